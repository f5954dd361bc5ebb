"""The e-mail register in a real browser: tick invoices, check them before sending (a blocked one
with its reason), send, follow the progress bar while the worker composes and delivers, see each
row's state change; the mails arrive at the SMTP fake with their PDF."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from courrier.billing.services import invoice_pdf_bytes
from courrier.mailing.models import MailBatch, OutboundMessage
from courrier.mailing.services import batch_compose, messages_deliver
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_sending import make_invoice_template, pdf_of
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.test_browser import CHROMIUM, context  # noqa: F401 (fixture used by name)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]


def settled(page: Page) -> None:
    """Wait until htmx has finished swapping and wired the new elements."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    page.wait_for_timeout(50)


class Worker:
    """The background worker, one step per poll of the progress bar: the poll is held while
    the step runs, so the page and the worker never use the test database at the same time."""

    def __init__(self) -> None:
        self.steps = 0

    def __call__(self, route: Route) -> None:
        if route.request.headers.get("hx-request"):
            self.step()
        route.continue_()

    def step(self) -> None:
        self.steps += 1
        if self.steps == 1:  # compose the batch's mails
            for batch in MailBatch.objects.filter(context="invoice").exclude(state="done"):
                batch_compose(batch_id=batch.pk)
        elif self.steps == 2:  # deliver them
            for profile in set(OutboundMessage.objects.values_list("profile_id", flat=True)):
                messages_deliver(profile_id=profile)


def test_select_check_send_and_follow_the_register(
    context: BrowserContext,  # noqa: F811
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., Any],
) -> None:
    company = make_billing_company()
    make_profile(server=smtp_server, billing_company=company, collaborator=None)
    make_invoice_template(("fr", "nl"))
    dupuis = make_invoice(
        company,
        make_invoice_client("C1", name="Boulangerie Dupuis", emails=("compta@dupuis.test",)),
        issue_date=datetime.date(2026, 3, 2),
    )
    peeters = make_invoice(
        company,
        make_invoice_client(
            "C2", name="Bakkerij Peeters", language="nl", emails=("info@peeters.test",)
        ),
        issue_date=datetime.date(2026, 3, 3),
    )
    braun = make_invoice(
        company,
        make_invoice_client("C3", name="Metzgerei Braun", language="de", emails=("b@braun.test",)),
        issue_date=datetime.date(2026, 3, 4),
    )
    untouched = make_invoice(
        company,
        make_invoice_client("C4", name="Garage Lenoir", emails=("garage@lenoir.test",)),
        issue_date=datetime.date(2026, 3, 5),
    )

    page = context.new_page()
    worker = Worker()
    page.route("**/factures/FIDU/envois/**", worker)
    page.goto("/factures/FIDU/registre-email/")
    rows = page.locator("table.billing-table tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator('[data-mail-state="unsent"]')).to_have_count(4)

    # Ticking rows chooses "the ticked invoices".
    for invoice in (dupuis, peeters, braun):
        page.get_by_label(f"Choisir la facture {invoice.display_number}").check()
    expect(page.get_by_label("Les factures cochées")).to_be_checked()

    page.get_by_role("button", name="Vérifier avant l'envoi").click()
    panel = page.locator("#presend-result")
    expect(panel).to_contain_text("2 factures seront envoyées")
    expect(page.locator("#presend-blocked")).to_contain_text(braun.display_number)
    expect(page.locator("#presend-blocked")).to_contain_text("allemand")
    settled(page)
    # Another choice makes the check stale: it is cleared until checked again.
    untouched_box = page.get_by_label(f"Choisir la facture {untouched.display_number}")
    untouched_box.check()
    expect(panel).to_have_count(0)
    untouched_box.uncheck()
    page.get_by_role("button", name="Vérifier avant l'envoi").click()
    expect(panel).to_contain_text("2 factures seront envoyées")
    settled(page)

    page.get_by_role("button", name="Envoyer 2 factures").click()
    expect(page.get_by_role("heading", name="Envoi d'un lot de factures")).to_be_visible()
    progress = page.locator("#billing-batch")
    # The worker composes at the first poll and delivers at the second: the bar fills and the
    # states follow without reloading the page.
    expect(progress).to_have_attribute("data-finished", "true", timeout=20_000)
    expect(progress.locator("h2")).to_have_text("Envoi terminé")
    expect(page.locator('#batch-summary [data-count="sent"]')).to_have_text("2")
    expect(page.locator('#batch-summary [data-count="blocked"]')).to_have_text("1")
    expect(page.locator('#batch-summary [data-count="failed"]')).to_have_text("0")
    expect(page.locator("#batch-bar")).to_have_attribute("value", "3")
    expect(page.locator("#batch-blocked")).to_contain_text(braun.display_number)
    expect(page.locator('#batch-invoices [data-mail-state="sent"]')).to_have_count(2)
    assert worker.steps >= 2

    arrived = {tuple(mail.rcpt_tos): mail for mail in smtp_server.messages}
    assert set(arrived) == {("compta@dupuis.test",), ("info@peeters.test",)}
    assert pdf_of(arrived[("compta@dupuis.test",)]) == invoice_pdf_bytes(dupuis)
    assert pdf_of(arrived[("info@peeters.test",)]) == invoice_pdf_bytes(peeters)

    # Back in the register: the rows say what happened, each links to its archived mail.
    page.get_by_role("link", name="Retour au registre e-mail").click()
    for invoice, state in ((dupuis, "sent"), (peeters, "sent"), (braun, "unsent")):
        cell = page.locator(f"#mail-{invoice.pk}")
        expect(cell.locator("[data-mail-state]")).to_have_attribute("data-mail-state", state)
    expect(page.locator(f"#mail-{untouched.pk} [data-mail-state]")).to_have_text("non envoyée")
    message = OutboundMessage.objects.get(object_id=dupuis.pk)
    expect(page.locator(f"#mail-{dupuis.pk} a")).to_have_attribute(
        "href", f"/courrier/messages/{message.pk}/"
    )

    # "@" re-sends one invoice, after a confirmation, recorded as a re-send.
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role(
        "button", name=f"Renvoyer la facture {dupuis.display_number} par e-mail"
    ).click()
    cell = page.locator(f"#mail-{dupuis.pk}")
    expect(cell).to_contain_text("Mail en file d'attente.")
    expect(cell.locator("[data-mail-state]")).to_have_attribute("data-mail-state", "queued")
    settled(page)
    resent = OutboundMessage.objects.filter(object_id=dupuis.pk).latest("pk")
    assert resent.purpose == "invoice-resend"
    messages_deliver(profile_id=resent.profile_id)
    assert pdf_of(smtp_server.messages[-1]) == invoice_pdf_bytes(dupuis)
