"""Peppol documents leave through the outbox like mails: claimed, sent once through the
company's access point, held when the credentials are refused, retried when it is busy,
"uncertain" when the connection broke after the hand-over, failed with the access point's
reason when it refuses the document."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from courrier.demo.access_point import FakeAccessPoint
from courrier.firm.models import BillingCompany
from courrier.mailing.models import DeliveryAttempt, OutboundMessage, SendingProfile
from courrier.mailing.services import messages_deliver
from courrier.mailing.services.profiles import profile_unready, settings_url
from tests.peppol.outbox import access_point, company, peppol_document, peppol_profile
from tests.peppol.ubl_samples import BUYER, ubl

__all__ = ["access_point", "company"]  # fixtures

Status = OutboundMessage.Status
pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["billit", "recommand"])
def test_the_ubl_leaves_once_and_the_access_points_id_is_kept(
    access_point: FakeAccessPoint, company: BillingCompany, method: str
) -> None:
    profile = peppol_profile(company, access_point, method)
    xml = ubl("CreditNote")
    message = peppol_document(profile, xml=xml, key="invoice-7-peppol")

    report = messages_deliver(profile_id=profile.pk)

    assert report.sent == 1
    (doc,) = access_point.documents
    assert doc.xml == xml
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.provider_message_id == doc.id
    assert messages_deliver(profile_id=profile.pk).claimed == 0
    assert len(access_point.documents) == 1


def test_billit_gets_the_messages_idempotency_key_or_its_message_id(
    access_point: FakeAccessPoint, company: BillingCompany
) -> None:
    profile = peppol_profile(company, access_point)
    keyed = peppol_document(profile, key="invoice-7-peppol")
    unkeyed = peppol_document(profile)
    messages_deliver(profile_id=profile.pk)
    keys = [headers.get("idempotent-key") for _m, _p, headers in access_point.requests]
    assert keys == [keyed.idempotency_key, unkeyed.message_id]


def test_refused_credentials_hold_the_documents_and_say_where_to_fix_them(
    access_point: FakeAccessPoint, company: BillingCompany
) -> None:
    profile = peppol_profile(company, access_point, api_key="revoked")
    message = peppol_document(profile)
    with translation.override("fr"):
        report = messages_deliver(profile_id=profile.pk)
        assert report.held == 1
        message.refresh_from_db()
        assert message.status == Status.HELD
        assert "refuse les identifiants enregistrés" in str(message.last_error)
    profile.refresh_from_db()
    assert profile.state == SendingProfile.State.BROKEN
    assert access_point.documents == []
    assert settings_url(profile) == f"/courrier/societes/{company.pk}/peppol/"


def test_a_busy_access_point_is_tried_again_after_the_wait_it_asked(
    access_point: FakeAccessPoint, company: BillingCompany
) -> None:
    profile = peppol_profile(company, access_point)
    message = peppol_document(profile)
    access_point.fail_next(429, retry_after=120)
    before = timezone.now()
    assert messages_deliver(profile_id=profile.pk).retry == 1
    message.refresh_from_db()
    assert message.status == Status.RETRY
    assert message.next_attempt_at is not None
    assert message.next_attempt_at >= before + timedelta(seconds=119)


def test_a_connection_broken_after_the_hand_over_is_uncertain_and_not_resent(
    access_point: FakeAccessPoint, company: BillingCompany
) -> None:
    profile = peppol_profile(company, access_point)
    message = peppol_document(profile)
    access_point.drop_next()
    assert messages_deliver(profile_id=profile.pk).uncertain == 1
    message.refresh_from_db()
    assert message.status == Status.UNCERTAIN
    assert [a.outcome for a in message.attempts_log.all()] == [DeliveryAttempt.Outcome.UNCERTAIN]
    assert messages_deliver(profile_id=profile.pk).claimed == 0


def test_a_receiver_not_on_peppol_fails_with_the_access_points_reason(
    access_point: FakeAccessPoint, company: BillingCompany
) -> None:
    profile = peppol_profile(company, access_point, "recommand")
    message = peppol_document(profile, receiver="0208:0777777771")
    assert messages_deliver(profile_id=profile.pk).failed == 1
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert "is not registered on the Peppol network" in str(message.last_error)


def test_an_invalid_peppol_receiver_fails_before_any_request(
    access_point: FakeAccessPoint, company: BillingCompany
) -> None:
    profile = peppol_profile(company, access_point)
    message = peppol_document(profile, receiver="0208:0123456789", xml=ubl())
    messages_deliver(profile_id=profile.pk)
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert "0208:0123456789" in str(message.last_error)
    assert access_point.requests == []


def test_missing_credentials_are_said_on_the_profile(
    access_point: FakeAccessPoint, company: BillingCompany
) -> None:
    profile = peppol_profile(company, access_point, "recommand", api_secret="")
    with translation.override("fr"):
        reason = profile_unready(profile)
        assert reason is not None
        assert "Peppol" in str(reason) and company.name in str(reason)
    assert BUYER  # the registered buyer is not even asked
