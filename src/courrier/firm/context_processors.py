from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from courrier.firm.models import Firm


def firm(request: HttpRequest) -> dict[str, Any]:
    return {"firm": Firm.load()}
