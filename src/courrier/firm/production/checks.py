"""`courrier check --deploy` says what `courrier serve` would refuse: a public address that is
not the HTTPS address of a host the application answers to (the mails' links, the webhooks and
the OAuth callbacks are built from it)."""

from __future__ import annotations

from typing import Any

from django.core import checks

from courrier.firm.production.server import public_url_problems


@checks.register(checks.Tags.security, deploy=True)
def public_url_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [checks.Warning(problem, id="courrier.W001") for problem in public_url_problems()]
