"""The demo's Peppol access point, as `courrier demo` runs it beside its SMTP catcher: after the
demo's seed, the e-invoices of a batch arrive with their stored UBL bytes, come back delivered
through the webhook the access point pushes to the demo's address, and are listed in French on
the demo's page, each UBL downloadable exactly as received. It keeps what it took across a
restart, delivers by itself after its delay and pushes again a webhook that was not taken.

Real parts: the loopback access point (Billit's API), the loopback SMTP server, the batch and
the delivery of the outbox, the webhook view on a live server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.test import Client as Browser
from django.urls import reverse

from courrier.billing.models import Invoice
from courrier.billing.services.peppol import PURPOSE_PEPPOL
from courrier.billing.services.sending import invoice_batch_start
from courrier.billing.services.ubl import invoice_ubl_bytes
from courrier.demo.access_point import FakeAccessPoint, received_dir, received_list
from courrier.demo.seed import (
    DEMO_WEBHOOK_SECRET,
    DEMO_WEBHOOK_TOKEN,
    demo_seed,
    peppol_participants,
)
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.models import DeliveryStatus, OutboundMessage
from courrier.mailing.services import batch_compose, messages_deliver
from tests.fakes.smtp import FakeSMTPServer
from tests.peppol.ubl_samples import BUYER, ubl

SOPHIE = "sophie.dubois@fiduciaire-demo.example"


@pytest.fixture
def data_dir(settings: LazySettings, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def demo_access_point(data_dir: Path) -> Iterator[FakeAccessPoint]:
    """The access point as the demo starts it (its participants, its directory), delivering
    only when the test says so."""
    server = FakeAccessPoint(directory=received_dir(data_dir))
    for participant in peppol_participants():
        server.register(participant)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def deliver_all() -> None:
    for profile in {m.profile_id for m in OutboundMessage.objects.all()}:
        messages_deliver(profile_id=profile)


@pytest.mark.django_db
def test_a_demo_batch_goes_by_peppol_comes_back_delivered_and_is_listed(
    demo_access_point: FakeAccessPoint,
    smtp_server: FakeSMTPServer,
    live_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    client: Browser,
) -> None:
    port = int(demo_access_point.base_url.rsplit(":", 1)[1])
    demo_seed(smtp_port=smtp_server.port, peppol_port=port)
    demo_access_point.webhook_url = live_server.url + reverse(
        "mailing:webhook", args=[DEMO_WEBHOOK_TOKEN]
    )
    demo_access_point.webhook_secret = DEMO_WEBHOOK_SECRET
    sophie = Collaborator.objects.get(email=SOPHIE)

    # The seed queued the first e-invoice: the worker sends it as soon as the demo starts.
    deliver_all()
    (first,) = demo_access_point.documents
    # From the register, the unsent invoices or the ticked rows of the Peppol register: the
    # pre-send check takes them, and blocks the company left on e-mail with its reason.
    client.force_login(sophie)
    presend = reverse("billing:email_presend", args=["FIDU"])
    unsent = client.post(presend, {"scope": "unsent"}, headers={"HX-Request": "true"})
    assert "Pharmacie Renard" in unsent.content.decode()
    assert "assujetti à la TVA en Belgique" in unsent.content.decode()
    ticked = Invoice.objects.filter(register=Invoice.Register.PEPPOL).exclude(
        client__name="Boulangerie Dupont"
    )[:2]
    chosen = client.post(
        presend,
        {"scope": "selection", "invoices": [invoice.pk for invoice in ticked]},
        headers={"HX-Request": "true"},
    )
    assert "Envoyer 2 factures" in chosen.content.decode()
    # A batch of the company's unsent invoices: each goes its client's way.
    batch = invoice_batch_start(
        by=sophie, billing_company=BillingCompany.objects.get(code="FIDU"), enqueue=False
    )
    batch_compose(batch_id=batch.pk)
    deliver_all()

    documents = {doc.id: doc for doc in demo_access_point.documents}
    rows = list(
        OutboundMessage.objects.filter(purpose=PURPOSE_PEPPOL).exclude(provider_message_id="")
    )
    assert len(rows) == len(documents) >= 5
    for row in rows:
        invoice = Invoice.objects.get(pk=row.object_id)
        assert invoice.register == Invoice.Register.PEPPOL
        # What arrived is the stored e-invoice, byte for byte, for the client's identifier.
        assert documents[row.provider_message_id].xml == invoice_ubl_bytes(invoice)
        assert documents[row.provider_message_id].receiver == invoice.client.peppol_address
    assert {doc.number for doc in documents.values()} >= {first.number}
    assert any(
        doc.document_type.startswith("urn:oasis:names:specification:ubl:schema:xsd:Credit")
        for doc in documents.values()
    )
    # The one VAT-registered company left on e-mail is blocked, with the reason.
    blocked = " ".join(str(reason) for reasons in batch.blocked.values() for reason in reasons)
    renard = Invoice.objects.filter(client__name="Pharmacie Renard", status="issued").first()
    assert renard is not None and str(renard.pk) in {str(pk) for pk in batch.blocked}
    assert "Pharmacie Renard" in blocked

    # A few seconds later the access point delivers them and says so by its webhook.
    demo_access_point.advance()
    assert {status for status, _body in demo_access_point.webhooks_sent} == {200}
    for row in rows:
        row.refresh_from_db()
        assert row.delivery_status == DeliveryStatus.DELIVERED, row.subject

    # The demo's page lists them in French; each UBL downloads as it arrived.
    monkeypatch.setenv("COURRIER_DEMO", "1")
    page = client.get(reverse("demo:peppol"))
    html = page.content.decode()
    assert page.status_code == 200
    assert (
        "Point d&#x27;accès Peppol de la démo" in html or "Point d'accès Peppol de la démo" in html
    )
    for doc in documents.values():
        assert doc.number in html and doc.receiver in html
    assert html.count('data-state="delivered"') == len(documents)
    assert "remise" in html and "Facture" in html and "Note de crédit" in html
    assert "Boulangerie Dupont" in html
    download = client.get(reverse("demo:peppol_ubl", args=[first.id]))
    assert download.status_code == 200
    assert download["Content-Type"] == "application/xml"
    assert b"".join(download.streaming_content) == first.xml  # type: ignore[attr-defined]
    assert client.get(reverse("demo:peppol_ubl", args=["courrier.sqlite3"])).status_code == 404
    assert client.get(reverse("demo:peppol_ubl", args=["123"])).status_code == 404


@pytest.mark.django_db
def test_outside_the_demo_the_page_does_not_exist(
    client: Browser, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.force_login(Collaborator.objects.create_user("anne@fidu.example", "pw-anne-demo"))
    monkeypatch.delenv("COURRIER_DEMO", raising=False)
    assert client.get(reverse("demo:peppol")).status_code == 404
    monkeypatch.setenv("COURRIER_DEMO", "1")
    empty = client.get(reverse("demo:peppol"))
    assert "Aucune facture électronique reçue" in empty.content.decode()
    client.logout()
    assert client.get(reverse("demo:peppol")).status_code == 302


class _Receiver(BaseHTTPRequestHandler):
    """A webhook address that is not up at first (503), then takes every report."""

    answers: list[int] = []
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = self.answers.pop(0) if self.answers else 200
        if status == 200:
            self.bodies.append(body)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_it_delivers_by_itself_keeps_what_it_took_and_pushes_again(tmp_path: Path) -> None:
    directory = tmp_path / "demo-peppol"
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.answers, _Receiver.bodies = [503, 503], []
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    server = FakeAccessPoint(auto_deliver_after=0.2, directory=directory)
    server.register(BUYER)
    server.webhook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook/"
    server.webhook_secret = "demo-secret"
    xml = ubl(buyer=BUYER)
    try:
        server.start()
        answer = _send(server, xml)
        doc = server.document(str(answer["OrderID"]))
        assert doc is not None and doc.state == "accepted"
        # Delivered by the access point's own thread; the report pushed until it was taken.
        deadline = time.monotonic() + 15
        while not _Receiver.bodies and time.monotonic() < deadline:
            time.sleep(0.1)
        assert doc.state == "delivered"
        assert [status for status, _body in server.webhooks_sent] == [503, 503, 200]
        assert b'"DocumentDeliveryStatus": "Delivered"' in _Receiver.bodies[0]
    finally:
        server.stop()
        receiver.shutdown()
        receiver.server_close()

    # As the demo's page reads it, and as a restarted access point does.
    (listed,) = received_list(directory)
    assert (listed.id, listed.state, listed.receiver) == (doc.id, "delivered", BUYER)
    assert (directory / f"{doc.id}.xml").read_bytes() == xml
    again = FakeAccessPoint(directory=directory)
    again.register(BUYER)
    with again:
        known = again.document(doc.id)
        assert known is not None and known.xml == xml and known.state == "delivered"
        newer = _send(again, ubl(buyer=BUYER, number="F2026-002"))
        assert int(newer["OrderID"]) == int(doc.id) + 1  # ids never repeat


def _send(server: FakeAccessPoint, xml: bytes) -> dict[str, Any]:
    import requests

    response = requests.post(
        f"{server.base_url}/v1/peppol/sendxml",
        json={"XML": xml.decode("utf-8")},
        headers={"ApiKey": server.billit_key, "PartyID": server.billit_party},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())
