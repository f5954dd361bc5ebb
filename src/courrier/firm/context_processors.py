from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from courrier.firm.models import Firm


def firm(request: HttpRequest) -> dict[str, Any]:
    # Imported here: the demo is an optional app and the firm does not depend on it.
    from courrier.demo.views import demo_enabled

    return {"firm": Firm.load(), "demo_mailbox": demo_enabled()}
