"""The webhook endpoint: find the profile by its token, let the reader its sending method
declares verify and read the request, record the events. A forged or unreadable request gets
a 4xx and a short text, never a 500; a replay gets 200 and changes nothing."""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from courrier.crypto import SecretUnreadable
from courrier.mailing import methods
from courrier.mailing.models import SendingProfile
from courrier.mailing.services.events import delivery_events_record
from courrier.mailing.webhooks import WebhookRejected

logger = logging.getLogger("courrier.mailing")


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@csrf_exempt
@login_not_required
@require_http_methods(["POST", "HEAD"])
def receive(request: HttpRequest, token: str) -> HttpResponse:
    try:
        profile = SendingProfile.objects.filter(webhook_token=token).first() if token else None
        if profile is None:
            return _text(404, "Unknown webhook.")
        method = methods.get(profile.method)
        if method is None or method.webhook is None:
            return _text(404, "This sending method reports no events.")
        if request.method == "HEAD":
            # Some providers check the address before saving it.
            return HttpResponse()
        events = method.webhook.read(request, profile)
    except WebhookRejected as exc:
        logger.info("webhook %s refused: %s", token[:6], exc.reason)
        return _text(exc.status, exc.reason, exc.headers)
    except SecretUnreadable:
        logger.error("webhook %s: the profile's secrets cannot be decrypted", token[:6])
        return _text(403, "The webhook secret cannot be read.")
    except Exception:
        # Whatever a forged body makes a parser do, the sender gets a 400, not a 500.
        logger.exception("webhook %s: unreadable request", token[:6])
        return _text(400, "Unreadable request.")
    recorded = delivery_events_record(profile=profile, events=events)
    return _text(200, f"ok, {recorded} new event(s)")
