"""The page of a send to several clients, in a real browser, read by the colleagues who use it.

A VAT batch read by an English-speaking colleague: its title says what it is about, each row
gives the subject its client received (rendered, never `{PERIODE}`), and the rows move from
waiting to sent or failed by themselves as the SMTP server accepts one client and refuses the
other. A selection adjusted by hand: one client unticked, another found and added, checked,
sent; the mails that reach the SMTP server are those of that list and no other.

The worker's tasks run as in tests/billing/test_register_browser.py: one step at a poll of the
page, held while it runs, so that the page and the worker never share the test database at
once; here each step also waits until the test lets it go, to see every state in between.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import Collaborator, Firm
from courrier.mailing import services
from courrier.mailing.models import (
    MailBatch,
    MailTemplate,
    MailTemplateVersion,
    OutboundMessage,
    SendingProfile,
)
from courrier.taxes.models import VatReturn
from tests.e2e.editor import type_body
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.test_browser import CHROMIUM, context  # noqa: F401 (fixture used by name)
from tests.taxes.factories import vat_return

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]

TIMEOUT_MS = 20_000


class Worker:
    """The background worker, run from the page's own polls: "compose" makes the batch's mails,
    "deliver" hands them to the SMTP server; each runs once, at the first poll after the test
    lets it go."""

    def __init__(self) -> None:
        self.allowed: list[str] = []
        self.done: list[str] = []

    def __call__(self, route: Route) -> None:
        if route.request.headers.get("hx-request"):
            for step in self.allowed:
                if step not in self.done:
                    self.done.append(step)
                    self.run(step)
        route.continue_()

    def run(self, step: str) -> None:
        if step == "compose":
            for batch in MailBatch.objects.exclude(state=MailBatch.State.DONE):
                services.batch_compose(batch_id=batch.pk)
        elif step == "deliver":
            for profile in set(OutboundMessage.objects.values_list("profile_id", flat=True)):
                services.messages_deliver(profile_id=profile)


def _client(number: str, name: str, language: str, address: str) -> Client:
    client = Client.objects.create(number=number, name=name, language=language, legal_form="SRL")
    ClientEmail.objects.create(client=client, address=address)
    return client


def _collaborator(make_profile: Callable[..., SendingProfile], server: FakeSMTPServer) -> Any:
    """The collaborator the browser is logged in as, with a profile pointed at `server`."""
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Martin"})
    anne = Collaborator.objects.get(email="anne@fidu.be")
    make_profile(server=server, collaborator=anne, from_address="anne@fidu.be")
    return anne


def _vat_template() -> MailTemplate:
    template = MailTemplate.objects.create(name="TVA déposée", context="vat")
    for language, subject, body in (
        ("fr", "{CABINET} – TVA {PERIODE}", "Votre déclaration TVA du {PERIODE} est déposée."),
        ("nl", "{CABINET} – btw {PERIODE}", "Uw btw-aangifte van het {PERIODE} is ingediend."),
    ):
        MailTemplateVersion.objects.create(
            template=template, language=language, subject=subject, body=body
        )
    return template


def test_an_english_colleague_follows_a_vat_batch_to_its_end(
    context: BrowserContext,  # noqa: F811
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., SendingProfile],
) -> None:
    anne = _collaborator(make_profile, smtp_server)
    anne.language = "en"
    anne.save(update_fields=["language"])
    dupuis = _client("C0001", "Boulangerie Dupuis", "fr", "compta@dupuis.test")
    peeters = _client("C0002", "Bakkerij Peeters", "nl", "info@peeters.test")
    returns: list[VatReturn] = [
        vat_return(dupuis, year=2026, period=3, deadline=date(2026, 10, 20)),
        vat_return(peeters, year=2026, period=3, deadline=date(2026, 10, 20)),
    ]
    smtp_server.fail_recipient("info@peeters.test", "550 5.1.1 No such user")
    batch = services.batch_create(
        sender=anne,
        subject="",
        body="",
        template=_vat_template(),
        options={"archive": True},
        context="vat",
        object_ids=[row.pk for row in returns],
    )
    worker = Worker()
    page = context.new_page()
    page.route("**/courrier/envois-groupes/**", worker)

    page.goto(f"/courrier/envois-groupes/{batch.pk}/")
    expect(page.locator("h1")).to_have_text("VAT returns — 3rd quarter 2026")
    progress = page.locator("#batch-progress")
    expect(progress).to_have_attribute("data-settled", "false")

    # The mails are made: each waits for the worker, under the subject its client will read.
    worker.allowed.append("compose")
    rows = page.locator("#batch-messages tbody tr")
    expect(rows).to_have_count(2, timeout=TIMEOUT_MS)
    dupuis_row = page.locator('#batch-messages tr[data-client="C0001"]')
    peeters_row = page.locator('#batch-messages tr[data-client="C0002"]')
    expect(dupuis_row).to_have_attribute("data-outcome", "queued")
    expect(dupuis_row.locator("[data-outcome-badge]")).to_have_text("queued")
    expect(dupuis_row).to_contain_text("Fiduciaire Martin – TVA 3e trimestre 2026")
    expect(peeters_row).to_contain_text("Fiduciaire Martin – btw 3de kwartaal 2026")
    expect(progress).not_to_contain_text("{")
    expect(progress).to_have_attribute("data-settled", "false")
    expect(page.locator("#batch-heading")).to_have_text(re.compile(r"Sending"))

    # The SMTP server takes one, refuses the other: the page follows without a reload.
    worker.allowed.append("deliver")
    expect(progress).to_have_attribute("data-settled", "true", timeout=TIMEOUT_MS)
    expect(dupuis_row).to_have_attribute("data-outcome", "sent")
    expect(dupuis_row.locator("[data-outcome-badge]")).to_have_text("sent")
    expect(peeters_row).to_have_attribute("data-outcome", "failed")
    expect(peeters_row.locator("[data-outcome-badge]")).to_have_text("failed")
    expect(peeters_row).to_contain_text("550")
    expect(page.locator('#batch-summary [data-count="sent"]')).to_have_text("1")
    expect(page.locator('#batch-summary [data-count="failed"]')).to_have_text("1")
    expect(page.locator("#batch-bar")).to_have_attribute("value", "2")
    assert [tuple(mail.rcpt_tos) for mail in smtp_server.messages] == [("compta@dupuis.test",)]

    # The failed one leads to its message.
    failed = OutboundMessage.objects.get(client=peeters)
    peeters_row.get_by_role("link", name="failed").click()
    page.wait_for_url(f"**/courrier/messages/{failed.pk}/")
    expect(page.locator("h1")).to_have_text("Fiduciaire Martin – btw 3de kwartaal 2026")


def test_a_selection_adjusted_by_hand_reaches_exactly_its_clients(
    context: BrowserContext,  # noqa: F811
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., SendingProfile],
) -> None:
    _collaborator(make_profile, smtp_server)
    _client("C0101", "Bakkerij Peeters", "nl", "jan@peeters.test")
    _client("C0102", "Brouwerij Wouters", "nl", "info@wouters.test")
    _client("C0103", "Boulangerie Dupont", "fr", "marie@dupont.test")
    _client("C0104", "Bäckerei Schmitz", "de", "karl@schmitz.test")
    worker = Worker()
    worker.allowed += ["compose", "deliver"]
    page = context.new_page()
    page.route("**/courrier/envois-groupes/**", worker)

    # Without a client, the window writes to nobody until told to.
    page.goto("/courrier/ecrire/")
    expect(page.locator("#sel-no-recipient")).to_be_visible()
    expect(page.locator("#sel-clients")).to_have_count(0)

    count = page.locator("#sel-recipient-count")
    page.select_option("select[name=sel-language]", "nl")
    expect(count).to_contain_text("2 destinataires")
    settled(page)
    page.get_by_label("Écrire à Brouwerij Wouters").uncheck()
    expect(page.locator('#sel-clients tr[data-client="C0102"]')).to_have_attribute(
        "data-kept", "false"
    )
    expect(count).to_contain_text("1 destinataire")
    settled(page)
    page.get_by_label("Ajouter un client à la main").fill("dupont")
    page.get_by_role("button", name="Ajouter Boulangerie Dupont").click()
    expect(page.locator('#sel-clients tr[data-client="C0103"]')).to_have_attribute(
        "data-kept", "true"
    )
    expect(count).to_contain_text("2 destinataires")
    expect(page.locator("#sel-found")).to_contain_text("déjà dans la liste")
    settled(page)

    page.select_option("#compose-form select[name=language]", "nl")
    page.fill("[name=subject]", "Nieuws voor {NOMCLIENT}")
    type_body(page, "Beste klant,\nUw dossier {NUMCLIENT} is bijgewerkt.")
    # Dupont reads French: the Dutch text reaches him only if the window allows it.
    page.get_by_label("Autoriser une autre langue que celle du client").check()
    page.get_by_role("button", name="Vérifier avant l'envoi").click()
    presend = page.locator("#presend")
    expect(presend.locator("#presend-summary")).to_contain_text("2 prêts")
    expect(presend).to_contain_text("Boulangerie Dupont")
    expect(presend).not_to_contain_text("Brouwerij Wouters")
    presend.get_by_role("button", name="Envoyer aux 2 clients prêts").click()

    page.wait_for_url(re.compile(r"/courrier/envois-groupes/\d+/"))
    progress = page.locator("#batch-progress")
    expect(progress).to_have_attribute("data-settled", "true", timeout=TIMEOUT_MS)
    expect(page.locator('#batch-summary [data-count="sent"]')).to_have_text("2")
    arrived = sorted(tuple(mail.rcpt_tos) for mail in smtp_server.messages)
    assert arrived == [("jan@peeters.test",), ("marie@dupont.test",)]


def settled(page: Page) -> None:
    """Wait until htmx has finished swapping and wired the new elements."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    page.wait_for_timeout(50)
