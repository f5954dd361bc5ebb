"""The access points' reports on Peppol documents: Billit's signed webhooks (bad, stale and
replayed requests refused or ignored), Recommand's unsigned ones read again through its API,
and the statuses polled for the documents no webhook reports — all shown on the message."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client as HTTPClient
from django.utils import timezone

from courrier.demo.access_point import FakeAccessPoint
from courrier.firm.models import BillingCompany
from courrier.mailing.models import DeliveryEvent, DeliveryStatus, OutboundMessage, SendingProfile
from courrier.mailing.services import messages_deliver, profile_webhook
from courrier.peppol.status import statuses_poll
from tests.peppol.outbox import access_point, company, peppol_document, peppol_profile

__all__ = ["access_point", "company"]  # fixtures

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status


def sent(profile: SendingProfile, count: int = 1) -> list[OutboundMessage]:
    messages = [peppol_document(profile) for _ in range(count)]
    assert messages_deliver(profile_id=profile.pk).sent == count
    for message in messages:
        message.refresh_from_db()
    return messages


def post(profile: SendingProfile, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    path, _hint = profile_webhook(profile=profile)
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    extra.pop("HTTP_CONTENT_TYPE", None)
    response = HTTPClient().post(path, data=body, content_type="application/json", **extra)
    return response.status_code, response.content.decode()


def later() -> timezone.datetime:
    return timezone.now() + timedelta(hours=1)


# -- Billit's signed webhooks ----------------------------------------------------------------


def test_a_signed_billit_report_shows_delivery_then_the_buyers_answer(
    access_point: FakeAccessPoint, company: BillingCompany
) -> None:
    profile = peppol_profile(company, access_point, webhook_secret="whsec-1")
    access_point.webhook_secret = "whsec-1"
    (message,) = sent(profile)
    (doc,) = access_point.advance()

    body = access_point.webhook_body(doc)
    assert post(profile, body, access_point.webhook_headers(doc, body)) == (
        200,
        "ok, 1 new event(s)",
    )
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DELIVERED

    access_point.respond(doc.id, "disputed", "Quantité erronée")
    body = access_point.webhook_body(doc)
    headers = access_point.webhook_headers(doc, body)
    assert post(profile, body, headers)[0] == 200
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DISPUTED
    # The same request again: accepted, nothing new.
    assert post(profile, body, headers) == (200, "ok, 0 new event(s)")
    assert DeliveryEvent.objects.filter(message=message).count() == 2


def test_billit_reports_with_a_bad_or_old_signature_are_refused(
    access_point: FakeAccessPoint, company: BillingCompany
) -> None:
    profile = peppol_profile(company, access_point, webhook_secret="whsec-1")
    (message,) = sent(profile)
    (doc,) = access_point.advance()
    body = access_point.webhook_body(doc)

    access_point.webhook_secret = "not-the-secret"
    assert post(profile, body, access_point.webhook_headers(doc, body)) == (
        403,
        "Invalid signature.",
    )
    access_point.webhook_secret = "whsec-1"
    stale = access_point.webhook_headers(doc, body, at=int(time.time()) - 3600)
    assert post(profile, body, stale) == (403, "Stale timestamp.")
    assert post(profile, body, {}) == (403, "Missing signature.")
    tampered = body.replace(b"Delivered", b"Error")
    assert post(profile, tampered, access_point.webhook_headers(doc, body))[0] == 403
    message.refresh_from_db()
    assert message.delivery_status == ""


def test_the_fake_pushes_its_signed_webhook_to_the_address_it_is_given(
    access_point: FakeAccessPoint, company: BillingCompany, live_server: object
) -> None:
    profile = peppol_profile(company, access_point, webhook_secret="whsec-1")
    (message,) = sent(profile)
    path, _hint = profile_webhook(profile=profile)
    access_point.webhook_url = f"{live_server.url}{path}"  # type: ignore[attr-defined]
    access_point.webhook_secret = "whsec-1"
    access_point.refuse(message.envelope_recipients[0], "Unknown endpoint at the receiver")
    access_point.advance()
    assert [status for status, _body in access_point.webhooks_sent] == [200]
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.REJECTED
    assert message.delivery_detail == "Unknown endpoint at the receiver"


# -- Recommand's unsigned webhooks -----------------------------------------------------------


def test_a_recommand_report_is_read_again_from_its_api(
    access_point: FakeAccessPoint, company: BillingCompany
) -> None:
    profile = peppol_profile(company, access_point, "recommand")
    (message,) = sent(profile)
    (doc,) = access_point.documents
    body = access_point.webhook_body(doc)
    asked_before = len(access_point.requests)

    assert post(profile, body, {}) == (200, "ok, 1 new event(s)")
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DELIVERED
    method, path, _headers = access_point.requests[asked_before]
    assert (method, path) == ("GET", f"/api/v1/documents/{doc.id}")

    other = json.dumps({"eventType": "document.updated", "documentId": doc.id, "companyId": "x"})
    assert post(profile, other.encode(), {})[0] == 403
    unknown = json.dumps(
        {"eventType": "document.received", "documentId": "doc_1", "companyId": "c_demo"}
    )
    assert post(profile, unknown.encode(), {}) == (200, "ok, 0 new event(s)")


# -- polling ------------------------------------------------------------------------------


def test_polling_records_what_no_webhook_said_and_stops_at_a_final_status(
    access_point: FakeAccessPoint, company: BillingCompany
) -> None:
    profile = peppol_profile(company, access_point)
    first, second = sent(profile, 2)
    # Just sent: not asked before the interval.
    assert statuses_poll() == 0
    assert statuses_poll(now=later()) == 0  # still "accepted": nothing to record

    access_point.advance(first.provider_message_id)
    access_point.refuse(second.envelope_recipients[0], "Refused by the receiver's access point")
    access_point.advance(second.provider_message_id)
    assert statuses_poll(now=later() + timedelta(hours=1)) == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.delivery_status == DeliveryStatus.DELIVERED
    assert second.delivery_status == DeliveryStatus.REJECTED
    assert second.delivery_detail == "Refused by the receiver's access point"

    access_point.respond(first.provider_message_id, "paid")
    assert statuses_poll(now=later() + timedelta(hours=2)) == 1
    first.refresh_from_db()
    assert first.delivery_status == DeliveryStatus.PAID
    # Paid and rejected are final: not asked again.
    asked = len(access_point.requests)
    assert statuses_poll(now=later() + timedelta(hours=3)) == 0
    assert len(access_point.requests) == asked


def test_polling_is_bounded_and_backs_off_when_rate_limited(
    access_point: FakeAccessPoint, company: BillingCompany
) -> None:
    profile = peppol_profile(company, access_point)
    messages = sent(profile, 3)
    access_point.advance()
    asked = len(access_point.requests)
    assert statuses_poll(now=later(), limit=2) == 2
    assert len(access_point.requests) == asked + 2
    # The one left out comes first next time; a 429 stops the run without an error.
    access_point.fail_next(429, retry_after=60)
    assert statuses_poll(now=later() + timedelta(hours=1)) == 0
    assert statuses_poll(now=later() + timedelta(hours=2)) == 1
    for message in messages:
        message.refresh_from_db()
        assert message.delivery_status == DeliveryStatus.DELIVERED


def test_the_command_says_what_it_recorded_in_french(
    access_point: FakeAccessPoint, company: BillingCompany, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = peppol_profile(company, access_point)
    (message,) = sent(profile)
    access_point.advance()
    OutboundMessage.objects.filter(pk=message.pk).update(
        updated_at=timezone.now() - timedelta(hours=1)
    )
    call_command("peppol_status")
    assert "1 nouveau statut Peppol enregistré." in capsys.readouterr().out
    call_command("peppol_status", "--limit", "0")
    assert "La limite doit être un nombre entier positif." in capsys.readouterr().err


def test_the_cron_job_polls_too(
    access_point: FakeAccessPoint, company: BillingCompany, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = peppol_profile(company, access_point)
    (message,) = sent(profile)
    access_point.advance()
    OutboundMessage.objects.filter(pk=message.pk).update(
        updated_at=timezone.now() - timedelta(hours=1)
    )
    call_command("outbox_recover", "--no-kick")
    assert "1 nouveau statut Peppol enregistré." in capsys.readouterr().out
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DELIVERED


def test_the_message_page_shows_the_buyers_answer(
    access_point: FakeAccessPoint, company: BillingCompany
) -> None:
    from django.test import Client as Browser
    from django.urls import reverse

    from tests.firm.factories import make_admin

    profile = peppol_profile(company, access_point)
    (message,) = sent(profile)
    access_point.advance()
    access_point.respond(message.provider_message_id, "paid")
    statuses_poll(now=later())
    browser = Browser()
    browser.force_login(make_admin())
    response = browser.get(reverse("mailing:message_detail", args=[message.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="badge badge-ok"' in html and "payé" in html
