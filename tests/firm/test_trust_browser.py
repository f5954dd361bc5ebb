"""Logins, passwords, roles, the audit log and a client's data, from the other side: each
person in a browser of their own (Debian's Chromium), in their own language.

A Dutch-speaking collaborator who forgot her password asks for a link on the login page (switched
to Nederlands), the worker mails it through the firm's mailbox to a real SMTP server, and she
opens the link of the mail that arrived in a browser with no session (the page speaks the mail's
language), then changes it again from her fiche. A collaborator who typed too many wrong
passwords reads the locked page in Dutch; an English administrator unlocks her. An English
administrator reads what a French colleague did in the audit log, in English, without the
secret she typed. A collaborator without the role Facturation is told who may issue an invoice
or export a client's data. An administrator downloads a client's data (the mail's bytes as they
arrived), then erases them. No page of these makes the browser refuse anything under the
Content-Security-Policy.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

import pytest
from auditlog.context import set_actor
from django.conf import settings
from django.test import Client as DjangoClient
from playwright.sync_api import Browser, BrowserContext, Page, expect

from courrier.billing.models import Invoice
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import Draft, message_compose, messages_deliver
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.csp import Violations
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import PASSWORD, make_admin, make_collaborator
from tests.firm.test_browser import CHROMIUM, TIMEOUT_MS, context  # noqa: F401 (fixture)
from tests.firm.test_passwords import run_worker

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]

NEW_PASSWORD = "Een-nieuw-wachtwoord-2027"
SECRET = "smtp-Geheim-9f3b2c"
CHANGED = "Wachtwoord gewijzigd"


@pytest.fixture
def browser(context: BrowserContext) -> Iterator[Browser]:  # noqa: F811
    """The Chromium of the firm's browser context (a French collaborator with Facturation,
    logged in), for the other people's contexts."""
    assert context.browser is not None
    yield context.browser


@pytest.fixture
def violations(context: BrowserContext) -> Iterator[Violations]:  # noqa: F811
    """Every page of every context watched by it: the browser refuses nothing of them."""
    seen = Violations()
    yield seen
    assert seen.seen == []


def new_context(
    browser: Browser,
    live_server: Any,
    violations: Violations,
    *,
    locale: str,
    user: Collaborator | None = None,
    downloads: bool = False,
) -> BrowserContext:
    """A context of its own (no cookie at all), logged in as `user` when given (a session
    opened beforehand, as an administrator's is)."""
    own = browser.new_context(locale=locale, base_url=live_server.url, accept_downloads=downloads)
    own.set_default_timeout(TIMEOUT_MS)
    violations.watch(own)
    if user is not None:
        django_client = DjangoClient()
        django_client.force_login(user)
        session = django_client.cookies[settings.SESSION_COOKIE_NAME].value
        own.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
        )
    return own


def log_in(page: Page, email: str, password: str) -> None:
    page.goto("/connexion/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("form:not(.language-switch) button[type=submit]")


def switch_to(page: Page, language: str) -> None:
    with page.expect_navigation():
        page.click(f".language-switch button[value={language}]")
    expect(page.locator("html")).to_have_attribute("lang", language)


def plain(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


# -- 1. a forgotten password ------------------------------------------------------------------


@pytest.fixture
def firm_mailbox(smtp_server: FakeSMTPServer) -> SendingProfile:
    """The firm's mailbox: its billing company's sending profile, on a real SMTP server."""
    company = make_billing_company()
    return SendingProfile.objects.create(
        billing_company=company,
        method=SendingProfile.Method.SMTP,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=SendingProfile.Security.NONE,
        from_name="Fiduciaire Demo",
        from_address="bureau@fidu.test",
    )


def test_a_dutch_collaborator_resets_her_forgotten_password_from_the_mail(
    browser: Browser,
    live_server: Any,
    violations: Violations,
    firm_mailbox: SendingProfile,
    smtp_server: FakeSMTPServer,
) -> None:
    make_collaborator("els@fidu.be", first_name="Els", last_name="Peeters", language="nl")
    # Her browser speaks French (a shared office computer): she switches the login page.
    own = new_context(browser, live_server, violations, locale="fr-BE")
    page = own.new_page()
    page.goto("/connexion/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    switch_to(page, "nl")
    page.get_by_role("link", name="Wachtwoord vergeten?").click()
    expect(page.get_by_role("heading", name="Wachtwoord vergeten")).to_be_visible()
    page.fill("input[name=email]", "Els@Fidu.be")
    page.get_by_role("button", name="De link ontvangen").click()
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.get_by_role("status")).to_be_visible()
    assert smtp_server.messages == []  # the page only asked the worker

    run_worker()
    [arrived] = smtp_server.wait_for(1)
    assert arrived.rcpt_tos == ["els@fidu.be"]
    assert arrived.mail_from == "bureau@fidu.test"
    mail = cast(EmailMessage, message_from_bytes(arrived.data, policy=policy.default))
    assert mail["Subject"] == "Courrier: een nieuw wachtwoord kiezen"
    text = plain(mail)
    assert text.startswith("Beste Els Peeters,"), text
    assert "een nieuw wachtwoord te kiezen voor uw account els@fidu.be" in " ".join(text.split())
    assert "mot de passe" not in text
    [url] = re.findall(r"https?://\S+/mot-de-passe/nouveau/\S+/", text)
    assert url.startswith(live_server.url)

    # Opened in a browser that never saw Courrier: no session, no cookie, a French browser.
    fresh = new_context(browser, live_server, violations, locale="fr-BE")
    reset = fresh.new_page()
    reset.goto(url)
    # The page of her link speaks her language, as the mail did.
    expect(reset.locator("html")).to_have_attribute("lang", "nl")
    expect(reset.get_by_role("heading", name="Nieuw wachtwoord")).to_be_visible()
    reset.fill("input[name=new_password1]", NEW_PASSWORD)
    reset.fill("input[name=new_password2]", NEW_PASSWORD)
    reset.get_by_role("button", name="Wachtwoord opslaan").click()
    expect(reset.get_by_role("status")).to_be_visible()
    expect(reset.locator("html")).to_have_attribute("lang", "nl")
    reset.get_by_role("link", name="Aanmelden").click()

    log_in(reset, "els@fidu.be", NEW_PASSWORD)
    reset.wait_for_url(re.compile(r"/(clients/)?$"))
    expect(reset.locator("html")).to_have_attribute("lang", "nl")
    expect(reset.locator("form input[name=password]")).to_have_count(0)

    # Logged in, she changes it again from her fiche, in Dutch.
    reset.get_by_role("link", name="Mijn fiche").click()
    reset.get_by_role("link", name="Mijn wachtwoord wijzigen").click()
    reset.fill("input[name=old_password]", NEW_PASSWORD)
    reset.fill("input[name=new_password1]", "Nog-een-ander-wachtwoord-2028")
    reset.fill("input[name=new_password2]", "Nog-een-ander-wachtwoord-2028")
    reset.get_by_role("button", name="Wachtwoord wijzigen").click()
    expect(reset.get_by_role("heading", name=CHANGED)).to_be_visible()
    assert Collaborator.objects.get(email="els@fidu.be").check_password(
        "Nog-een-ander-wachtwoord-2028"
    )

    # The link has served: opened again, it says so.
    again = fresh.new_page()
    again.goto(url)
    expect(again.get_by_role("alert")).to_be_visible()
    expect(again.locator("input[name=new_password1]")).to_have_count(0)


# -- 2. locked out, then unlocked ---------------------------------------------------------------


def test_a_locked_out_collaborator_reads_why_and_an_administrator_unlocks_her(
    browser: Browser, live_server: Any, violations: Violations
) -> None:
    make_collaborator("els@fidu.be", first_name="Els", last_name="Peeters", language="nl")
    admin = make_admin("luc@fidu.be", language="en")
    # The administrator's session was opened earlier (this office's address is about to be
    # locked too).
    admins = new_context(browser, live_server, violations, locale="en-GB", user=admin)

    own = new_context(browser, live_server, violations, locale="fr-BE")
    page = own.new_page()
    page.goto("/connexion/")
    switch_to(page, "nl")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.fill("input[name=username]", "els@fidu.be")
        page.fill("input[name=password]", "verkeerd-wachtwoord")
        with page.expect_navigation():
            page.click("form:not(.language-switch) button[type=submit]")
    # The right password now changes nothing: the page says why, how long, whom to ask.
    page.goto("/connexion/")
    page.fill("input[name=username]", "els@fidu.be")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation() as navigation:
        page.click("form:not(.language-switch) button[type=submit]")
    response = navigation.value
    assert response is not None and response.status == 429
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.get_by_role("heading", name="Aanmelden geblokkeerd")).to_be_visible()
    alert = page.get_by_role("alert")
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    expect(alert).to_contain_text(f"{minutes} minuten")
    expect(alert).not_to_contain_text("mot de passe")

    # The administrator, in English, sees the account blocked and unblocks it.
    list_page = admins.new_page()
    list_page.goto("/cabinet/collaborateurs/")
    expect(list_page.locator("html")).to_have_attribute("lang", "en")
    row = list_page.locator("tr", has_text="els@fidu.be")
    expect(row).to_contain_text("login blocked")
    row.get_by_role("button", name="Unblock").click()
    expect(list_page.locator("tr", has_text="els@fidu.be")).not_to_contain_text("login blocked")
    expect(list_page.locator("html")).to_have_attribute("lang", "en")

    log_in(page, "els@fidu.be", PASSWORD)
    page.wait_for_url(re.compile(r"/(clients/)?$"))
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.locator("form input[name=password]")).to_have_count(0)


# -- 3. the audit log, read in English ---------------------------------------------------------


def test_an_english_administrator_reads_what_a_french_colleague_did(
    context: BrowserContext,  # noqa: F811
    browser: Browser,
    live_server: Any,
    violations: Violations,
    firm_mailbox: SendingProfile,
) -> None:
    violations.watch(context)
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Demo"})
    # The colleague of the firm's browser context becomes an administrator of the firm.
    colleague = Collaborator.objects.get()
    Collaborator.objects.filter(pk=colleague.pk).update(role=Collaborator.Role.ADMIN)
    company = firm_mailbox.billing_company
    assert company is not None
    client = make_invoice_client("C0100", billing_company=company)
    draft = make_invoice(company, client, issue=False, by=colleague)

    # She changes a setting, and issues an invoice, in French, in her browser.
    page = context.new_page()
    page.goto("/cabinet/parametres/")
    page.fill("input[name=phone]", "+32 2 555 12 34")
    page.locator("form.stack button[type=submit], form button.btn-primary").first.click()
    expect(page.locator(".flash-success, [role=status]").first).to_be_visible()
    page.goto(f"/factures/{draft.pk}/")
    page.get_by_role("link", name="Émettre la facture…").click()
    page.locator("#issue-button").click()
    page.wait_for_url(re.compile(rf"/factures/{draft.pk}/$"))
    issued = Invoice.objects.get(pk=draft.pk)
    assert issued.is_issued
    # And gives the firm's mailbox a new password (from the profile's page: its service).
    with set_actor(Collaborator.objects.get(pk=colleague.pk)):
        profile = SendingProfile.objects.get(pk=firm_mailbox.pk)
        profile.smtp_password = SECRET
        profile.save()

    admin = make_admin("luc@fidu.be", first_name="Luc", last_name="Dubois", language="en")
    admins = new_context(browser, live_server, violations, locale="en-GB", user=admin)
    journal = admins.new_page()
    response = journal.goto("/cabinet/journal/")
    assert response is not None and response.status == 200
    expect(journal.locator("html")).to_have_attribute("lang", "en")
    table = journal.locator("table")
    expect(table).to_contain_text("Invoice issued")
    expect(table.locator("tr", has_text="Invoice issued")).to_contain_text(str(colleague))
    expect(table.locator("tr", has_text="+32 2 555 12 34")).to_contain_text(str(colleague))
    content = journal.content()
    assert SECRET not in content
    assert "********" in content
    # Nothing of it in French.
    shown = journal.locator("main").inner_text()
    for french in ("Facture émise", "Modification", "facture ", "le système"):
        assert french not in shown, french


# -- 4. issuing without the role ----------------------------------------------------------------


def test_without_the_role_a_collaborator_is_told_who_may_issue(
    browser: Browser, live_server: Any, violations: Violations
) -> None:
    company = make_billing_company()
    client = make_invoice_client("C0100", billing_company=company)
    draft = make_invoice(company, client, issue=False)
    els = make_collaborator("els@fidu.be", first_name="Els", last_name="Peeters", language="nl")
    own = new_context(browser, live_server, violations, locale="nl-BE", user=els)
    page = own.new_page()
    page.goto(f"/factures/{draft.pk}/")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.locator(f'a[href="/factures/{draft.pk}/emettre/"]')).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("uitreiken|Émettre", re.I))).to_have_count(0)

    response = page.goto(f"/factures/{draft.pk}/emettre/")
    assert response is not None and response.status == 403
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.get_by_role("heading", name="Toegang geweigerd")).to_be_visible()
    main = page.locator("main").inner_text()
    assert "Facturatie" in main or "Facturation" in main, main
    assert "beheerders" in main, main
    assert "réservé" not in main
    assert not Invoice.objects.get(pk=draft.pk).is_issued

    # Nor a client's data: the client file shows no such box, its address says whose it is.
    page.goto(f"/clients/{client.pk}/")
    expect(page.locator(f'a[href="/donnees/clients/{client.pk}/export/"]')).to_have_count(0)
    response = page.goto(f"/donnees/clients/{client.pk}/export/")
    assert response is not None and response.status == 403
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.get_by_text("voorbehouden aan de beheerders van het kantoor")).to_be_visible()


# -- 5. a client's data, downloaded ------------------------------------------------------------


def test_an_administrator_downloads_a_clients_data_with_the_mail_that_arrived(
    browser: Browser,
    live_server: Any,
    violations: Violations,
    smtp_server: FakeSMTPServer,
    settings: Any,
    tmp_path: Any,
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    admin = make_admin("luc@fidu.be", language="en")
    SendingProfile.objects.create(
        collaborator=admin,
        method=SendingProfile.Method.SMTP,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=SendingProfile.Security.NONE,
        from_name="Luc Dubois",
        from_address=admin.email,
    )
    client = make_invoice_client("C0100", emails=("compta@dupuis.test",))
    mail = message_compose(
        sender=admin,
        client=client,
        draft=Draft(subject="Votre bilan 2026", body="Bonjour,\n\nVoici le bilan.\n"),
    )
    messages_deliver(profile_id=mail.profile_id)
    [arrived] = smtp_server.wait_for(1)

    own = new_context(browser, live_server, violations, locale="en-GB", user=admin, downloads=True)
    page = own.new_page()
    page.goto(f"/clients/{client.pk}/")
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Export its data (ZIP)").click()
    download = downloading.value
    assert download.suggested_filename.endswith(".zip")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    archive = zipfile.ZipFile(io.BytesIO(saved.read_bytes()))
    [eml] = [name for name in archive.namelist() if name.endswith(".eml")]
    assert archive.read(eml).replace(b"\r\n", b"\n") == arrived.data.replace(b"\r\n", b"\n")

    # Then erases them: a wrong number first, then the client's.
    page.get_by_role("link", name="Erase its data…").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.fill("input[name=number]", "C9999")
    page.get_by_role("button", name="Erase for good").click()
    expect(page.locator("input[name=number]")).to_have_attribute("aria-invalid", "true")
    page.fill("input[name=number]", "C0100")
    page.get_by_role("button", name="Erase for good").click()
    # (The counts' wording is new: English once the translations are compiled.)
    expect(page.locator(".flash-success")).to_contain_text("C0100")
    assert not OutboundMessage.objects.filter(client=client).exists()
