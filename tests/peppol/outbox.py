"""A billing company's Peppol profile pointed at the loopback access point, and Peppol
documents stored in the outbox as the invoice services store them (channel "peppol", the UBL
as the message's bytes, the buyer's Peppol identifier as its envelope recipient)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from courrier.demo.access_point import FakeAccessPoint
from courrier.firm.models import BillingCompany
from courrier.mailing.models import Channel, OutboundMessage, SendingProfile
from courrier.mailing.services.contents import contents_store
from tests.firm.factories import make_company
from tests.peppol.ubl_samples import BUYER, ubl


@pytest.fixture
def access_point() -> Iterator[FakeAccessPoint]:
    with FakeAccessPoint() as server:
        server.register(BUYER)
        yield server


@pytest.fixture
def company(db: None) -> BillingCompany:
    return make_company(email="factures@fidu.be")


def peppol_profile(
    company: BillingCompany, server: FakeAccessPoint, method: str = "billit", **fields: object
) -> SendingProfile:
    values: dict[str, object] = {"peppol_company": company, "method": method}
    if method == SendingProfile.Method.BILLIT:
        values.update(api_key=server.billit_key, peppol_account=server.billit_party)
    else:
        values.update(
            api_key=server.recommand_key,
            api_secret=server.recommand_secret,
            peppol_account=server.recommand_company,
        )
    values["api_base_url"] = server.base_url
    values["from_address"] = company.email
    values.update(fields)
    return SendingProfile.objects.create(**values)


def peppol_document(
    profile: SendingProfile,
    *,
    receiver: str = BUYER,
    xml: bytes | None = None,
    key: str | None = None,
) -> OutboundMessage:
    xml = xml if xml is not None else ubl(buyer=receiver)
    message = OutboundMessage.objects.create(
        profile=profile,
        channel=Channel.PEPPOL,
        purpose="invoice",
        context="invoice",
        language="fr",
        message_id=f"<{uuid.uuid4().hex}@peppol.fidu.test>",
        idempotency_key=key,
        subject="Facture F2026-001",
        from_address=profile.from_address,
        to=[receiver],
        envelope_recipients=[receiver],
        size=len(xml),
    )
    contents_store([(message, xml)])
    return message
