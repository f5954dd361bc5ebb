"""Recommand's webhooks: `{"eventType", "documentId", "teamId", "companyId"}`, unsigned.

Recommand's documentation describes no signature, so the body is not believed: it only says
which document changed. The request must name the profile's own company, and a document the
profile sent; its status is then read from the API with the profile's own credentials. A forged
request can at most make Courrier read one of its own documents again; a replay records nothing
new (the status already recorded has the same event id).
"""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest

from courrier.mailing.exceptions import MailingError
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.webhooks import Event, WebhookRejected
from courrier.mailing.webhooks.peppol import event_for

logger = logging.getLogger("courrier.mailing")


def events_from(request: HttpRequest, profile: SendingProfile) -> list[Event]:
    from courrier.mailing.transports.peppol import access_point_for

    try:
        body = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebhookRejected(400, "The body is not JSON.") from exc
    if not isinstance(body, dict):
        raise WebhookRejected(400, "The body is not an event.")
    if str(body.get("companyId") or "") != profile.peppol_account.strip():
        raise WebhookRejected(403, "This event is not for this company.")
    document_id = str(body.get("documentId") or "").strip()
    if (
        not document_id
        or not OutboundMessage.objects.filter(
            profile=profile, provider_message_id=document_id
        ).exists()
    ):
        return []  # a received document, or one Courrier did not send: nothing to record
    try:
        access_point = access_point_for(profile)
        try:
            status = access_point.status(document_id)
        finally:
            access_point.close()
    except MailingError as exc:
        logger.info("recommand webhook: %s not read: %s", document_id, exc.detail or exc)
        return []
    event = event_for(status, document_id)
    return [event] if event is not None else []
