"""Billit's and Recommand's APIs, spoken to the loopback access point of courrier.demo: what
arrives there, the statuses read back, the participants looked up, and every failure turned
into the outbox's exceptions (never a library's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.utils import translation

from courrier.demo.access_point import CREDIT_NOTE, INVOICE, FakeAccessPoint
from courrier.mailing.exceptions import (
    DeliveryUncertain,
    PermanentError,
    ProfileRejected,
    TransientError,
)
from courrier.peppol.access_points.base import (
    CREDIT_NOTE_DOCUMENT_TYPE,
    INVOICE_DOCUMENT_TYPE,
    AccessPoint,
    DocumentState,
)
from courrier.peppol.access_points.billit import BillitAccessPoint
from courrier.peppol.access_points.documents import document_type_of
from courrier.peppol.access_points.recommand import RecommandAccessPoint
from tests.peppol.ubl_samples import BUYER, SELLER, ubl

Build = Callable[..., AccessPoint]


@pytest.fixture
def fake() -> Iterator[FakeAccessPoint]:
    with FakeAccessPoint() as server:
        server.register(BUYER)
        yield server


def billit(fake: FakeAccessPoint, **overrides: str) -> AccessPoint:
    values = {"api_key": fake.billit_key, "party_id": fake.billit_party}
    values.update(overrides)
    return BillitAccessPoint(base_url=fake.base_url, timeout=5, **values)


def recommand(fake: FakeAccessPoint, **overrides: str) -> AccessPoint:
    values = {
        "api_key": fake.recommand_key,
        "api_secret": fake.recommand_secret,
        "company_id": fake.recommand_company,
    }
    values.update(overrides)
    return RecommandAccessPoint(base_url=fake.base_url, timeout=5, **values)


BOTH = pytest.mark.parametrize("build", [billit, recommand], ids=["billit", "recommand"])


def send(point: AccessPoint, xml: bytes | None = None, *, receiver: str = BUYER, key: str = "k1"):
    xml = xml or ubl()
    return point.send(
        xml=xml,
        sender=SELLER,
        receiver=receiver,
        document_type=document_type_of(xml),
        idempotency_key=key,
    )


@BOTH
def test_the_ubl_arrives_byte_for_byte_with_its_type(fake: FakeAccessPoint, build: Build) -> None:
    xml = ubl("CreditNote")
    sent = send(build(fake), xml)
    (doc,) = fake.documents
    assert doc.xml == xml
    assert doc.document_type == CREDIT_NOTE
    assert doc.receiver.endswith("0987654394")
    assert sent.provider_id == doc.id


def test_billit_sends_its_headers_and_honours_the_idempotency_key(fake: FakeAccessPoint) -> None:
    point = billit(fake)
    first = send(point, key="message-42")
    again = send(point, key="message-42")
    assert first.provider_id == again.provider_id
    assert len(fake.documents) == 1
    method, path, headers = fake.requests[0]
    assert (method, path) == ("POST", "/v1/peppol/sendxml")
    assert headers["apikey"] == fake.billit_key
    assert headers["partyid"] == fake.billit_party
    assert headers["idempotent-key"] == "message-42"


def test_billit_refuses_a_document_meant_for_another_buyer(fake: FakeAccessPoint) -> None:
    with pytest.raises(PermanentError) as caught:
        send(billit(fake), ubl(), receiver="0208:0403170701")
    assert "0403170701" in str(caught.value)
    assert fake.documents == []


def test_billit_statuses_progress_to_delivered_then_the_buyers_answer(
    fake: FakeAccessPoint,
) -> None:
    point = billit(fake)
    sent = send(point)
    assert point.status(sent.provider_id).state == DocumentState.ACCEPTED
    fake.advance()
    delivered = point.status(sent.provider_id)
    assert delivered.state == DocumentState.DELIVERED
    assert delivered.at is not None
    fake.respond(sent.provider_id, "approved")
    assert point.status(sent.provider_id).state == DocumentState.APPROVED
    fake.respond(sent.provider_id, "paid")
    assert point.status(sent.provider_id).state == DocumentState.PAID


def test_billit_reports_the_refusal_of_the_receivers_access_point(fake: FakeAccessPoint) -> None:
    fake.refuse(BUYER, "Receiver access point: unknown endpoint")
    point = billit(fake)
    sent = send(point)
    fake.advance()
    status = point.status(sent.provider_id)
    assert status.state == DocumentState.REJECTED
    assert status.detail == "Receiver access point: unknown endpoint"


def test_recommand_answers_a_delivered_document_and_refuses_at_once(
    fake: FakeAccessPoint,
) -> None:
    point = recommand(fake)
    sent = send(point)
    assert point.status(sent.provider_id).state == DocumentState.DELIVERED
    fake.refuse("0208:0403170701", "Receiver access point refused the message")
    with pytest.raises(PermanentError) as caught:
        send(point, ubl(buyer="0208:0403170701"), receiver="0208:0403170701")
    assert "Receiver access point refused the message" in str(caught.value)


@BOTH
def test_lookup_says_who_receives_what(fake: FakeAccessPoint, build: Build) -> None:
    fake.register("0208:0403170701", INVOICE)
    point = build(fake)
    both = point.lookup(BUYER)
    assert both.registered and both.receives_invoices and both.receives_credit_notes
    invoices = point.lookup("0208:0403170701")
    assert invoices.document_types == (INVOICE_DOCUMENT_TYPE,)
    assert not invoices.receives_credit_notes
    nobody = point.lookup("0208:0777777771")
    assert not nobody.registered and nobody.document_types == ()
    assert CREDIT_NOTE_DOCUMENT_TYPE not in nobody.document_types


@BOTH
def test_check_reads_the_account(fake: FakeAccessPoint, build: Build) -> None:
    assert fake.company_name in build(fake).check()


@BOTH
def test_an_unregistered_receiver_is_a_permanent_refusal_with_its_reason(
    fake: FakeAccessPoint, build: Build
) -> None:
    with pytest.raises(PermanentError) as caught:
        send(build(fake), ubl(buyer="0208:0777777771"), receiver="0208:0777777771")
    assert "is not registered on the Peppol network" in str(caught.value)
    assert caught.value.code == 400


@BOTH
def test_refused_credentials_hold_the_profile_with_a_french_sentence(
    fake: FakeAccessPoint, build: Build
) -> None:
    with translation.override("fr"), pytest.raises(ProfileRejected) as caught:
        send(build(fake, api_key="wrong"))
    assert "refuse les identifiants enregistrés" in str(caught.value)
    fake.fail_next(401)
    with pytest.raises(ProfileRejected):
        build(fake).check()


def test_an_unknown_recommand_company_refuses_the_profile(fake: FakeAccessPoint) -> None:
    with translation.override("fr"), pytest.raises(ProfileRejected) as caught:
        send(recommand(fake, company_id="c_other"))
    assert "ne connaît pas le compte enregistré" in str(caught.value)
    with pytest.raises(ProfileRejected):
        recommand(fake, company_id="c_other").check()


def test_a_wrong_billit_party_is_refused(fake: FakeAccessPoint) -> None:
    with pytest.raises(ProfileRejected) as caught:
        billit(fake, party_id="1").check()
    assert caught.value.code == 403


@BOTH
def test_rate_limit_is_transient_with_the_wait_asked(fake: FakeAccessPoint, build: Build) -> None:
    fake.fail_next(429, retry_after=42)
    with pytest.raises(TransientError) as caught:
        send(build(fake))
    assert caught.value.retry_after == 42
    assert fake.documents == []


@BOTH
def test_server_errors_and_a_closed_port_are_transient(fake: FakeAccessPoint, build: Build) -> None:
    fake.fail_next(500)
    with pytest.raises(TransientError):
        send(build(fake))
    point = build(fake)
    fake.stop()
    with pytest.raises(TransientError) as caught:
        send(point)
    with translation.override("fr"):
        assert "est injoignable" in caught.value.user_message


@BOTH
def test_a_scripted_400_carries_the_access_points_reason(
    fake: FakeAccessPoint, build: Build
) -> None:
    fake.fail_next(400)
    with pytest.raises(PermanentError) as caught:
        send(build(fake))
    assert "scripted failure 400" in str(caught.value)


@BOTH
def test_a_connection_dropped_after_the_body_is_uncertain(
    fake: FakeAccessPoint, build: Build
) -> None:
    fake.drop_next()
    with pytest.raises(DeliveryUncertain):
        send(build(fake))
    # A read that breaks the same way is only tried again later.
    fake.drop_next()
    with pytest.raises(TransientError):
        build(fake).lookup(BUYER)


def test_missing_credentials_are_said_before_any_request(fake: FakeAccessPoint) -> None:
    with pytest.raises(ProfileRejected):
        billit(fake, party_id="")
    with pytest.raises(ProfileRejected):
        recommand(fake, api_secret=" ")
    assert fake.requests == []


def test_a_document_that_is_no_invoice_is_refused_before_sending() -> None:
    with pytest.raises(PermanentError):
        document_type_of(b"<Order xmlns='urn:oasis:names:specification:ubl:schema:xsd:Order-2'/>")
    with pytest.raises(PermanentError):
        document_type_of(b"<not xml")
    assert document_type_of(ubl()) == INVOICE_DOCUMENT_TYPE
