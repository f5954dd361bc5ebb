"""`/sante/`: the installation's health, for a monitor (JSON, no login, nothing secret)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from courrier.firm.production.health import health_report


@login_not_required
@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """200 when the database answers, a worker takes tasks and the outbox moves; 503 otherwise."""
    report = health_report()
    return JsonResponse(report.as_dict(), status=200 if report.healthy else 503)
