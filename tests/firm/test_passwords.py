"""Passwords: a collaborator changes their own, a forgotten one is reset by a mail that really
leaves through the firm's sending profile (and whose link works in a fresh browser), an
administrator sets one; the pages before login speak the language the reader picks."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client as Browser
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from courrier.firm.models import Collaborator
from courrier.mailing.models import SendingProfile
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import PASSWORD, make_admin, make_collaborator, make_company

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
RESET = reverse("password_reset")
NEW_PASSWORD = "Un-nouveau-mot-de-passe-2027"


def run_worker() -> None:
    """What `courrier db_worker` does in production: run the tasks waiting."""
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)


def logs_in(email: str, password: str) -> bool:
    response = Browser().post(LOGIN, {"username": email, "password": password})
    return response.status_code == 302


# -- a collaborator changes their own password ------------------------------------------------


def test_a_collaborator_changes_their_password_from_their_fiche() -> None:
    anne = make_collaborator("anne@fidu.be")
    browser = Browser()
    browser.force_login(anne)
    fiche = browser.get(reverse("mailing:my_profile")).content.decode()
    assert reverse("password_change") in fiche
    assert "Changer mon mot de passe" in fiche

    wrong = browser.post(
        reverse("password_change"),
        {
            "old_password": "pas-le-bon",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 200
    assert 'name="old_password"' in wrong.content.decode()

    done = browser.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Votre nouveau mot de passe est enregistré" in done.content.decode()
    # Still logged in on this browser, with the new password from now on.
    assert browser.get(reverse("mailing:my_profile")).status_code == 200
    assert logs_in("anne@fidu.be", NEW_PASSWORD)
    assert not logs_in("anne@fidu.be", PASSWORD)


def test_the_password_page_is_in_the_collaborators_language() -> None:
    anne = make_collaborator("anne@fidu.be", language="nl")
    browser = Browser()
    browser.force_login(anne)
    page = browser.get(reverse("password_change")).content.decode()
    assert '<html lang="nl">' in page


def test_the_password_page_needs_a_login() -> None:
    response = Browser().get(reverse("password_change"))
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


# -- a forgotten password, by mail ------------------------------------------------------------


@pytest.fixture
def firm_profile(
    make_profile: Callable[..., SendingProfile], smtp_server: FakeSMTPServer
) -> SendingProfile:
    """The firm's mailbox: its billing company's profile, on a real SMTP server."""
    company = make_company()
    return make_profile(
        server=smtp_server,
        billing_company=company,
        from_name="Fiduciaire Dubois",
        from_address="bureau@fidu.test",
    )


def link_in(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    found = re.search(r"https?://\S+/mot-de-passe/nouveau/\S+/", text)
    assert found, text
    return urlsplit(found.group(0)).path


def test_a_forgotten_password_is_reset_by_the_mail_that_arrived(
    firm_profile: SendingProfile, smtp_server: FakeSMTPServer
) -> None:
    anne = make_collaborator("anne@fidu.be")
    asking = Browser()
    page = asking.post(RESET, {"email": "Anne@Fidu.be"}, follow=True).content.decode()
    assert "Si cette adresse est celle d'un collaborateur du cabinet" in page
    run_worker()

    assert len(smtp_server.messages) == 1
    arrived = smtp_server.messages[0]
    assert arrived.rcpt_tos == ["anne@fidu.be"]
    assert arrived.mail_from == "bureau@fidu.test"
    assert "Courrier : choisir un nouveau mot de passe" in str(arrived.message["Subject"])
    path = link_in(arrived.data)

    # Opened in another browser, with no session at all.
    fresh = Browser()
    form = fresh.get(path, follow=True)
    assert form.status_code == 200
    assert 'name="new_password1"' in form.content.decode()
    set_url = form.redirect_chain[-1][0] if form.redirect_chain else path
    done = fresh.post(
        set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True
    )
    assert "Votre nouveau mot de passe est enregistré" in done.content.decode()
    assert logs_in("anne@fidu.be", NEW_PASSWORD)
    assert not logs_in(anne.email, PASSWORD)

    # The link has served: it does not work twice.
    again = Browser().get(path, follow=True).content.decode()
    assert "Ce lien ne vaut plus" in again


def test_the_reset_page_cannot_fill_a_colleagues_mailbox(
    firm_profile: SendingProfile, smtp_server: FakeSMTPServer
) -> None:
    anne = make_collaborator("anne@fidu.be")
    for _ in range(3):
        page = Browser().post(RESET, {"email": "anne@fidu.be"}, follow=True).content.decode()
        # The page says the same each time: it never tells what the worker did.
        assert "Si cette adresse est celle d'un collaborateur du cabinet" in page
    run_worker()
    assert len(smtp_server.messages) == 1

    # Once the interval has passed (the last mail is that old), a new request sends again.
    interval = settings.COURRIER["PASSWORD_RESET_INTERVAL_SECONDS"]
    anne.refresh_from_db()
    assert anne.password_reset_sent_at is not None
    Collaborator.objects.filter(pk=anne.pk).update(
        password_reset_sent_at=anne.password_reset_sent_at - timedelta(seconds=interval + 1)
    )
    Browser().post(RESET, {"email": "anne@fidu.be"})
    run_worker()
    assert len(smtp_server.messages) == 2


def test_a_reset_mail_that_could_not_leave_does_not_hold_the_next_one(
    make_profile: Callable[..., SendingProfile], smtp_server: FakeSMTPServer
) -> None:
    anne = make_collaborator("anne@fidu.be")
    Browser().post(RESET, {"email": "anne@fidu.be"})
    run_worker()  # no profile can send yet
    assert len(smtp_server.messages) == 0
    make_profile(server=smtp_server, billing_company=make_company(), from_address="b@fidu.test")
    Browser().post(RESET, {"email": "anne@fidu.be"})
    run_worker()
    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0].rcpt_tos == [anne.email]


def test_the_reset_page_never_tells_whether_an_address_exists(
    firm_profile: SendingProfile, smtp_server: FakeSMTPServer
) -> None:
    make_collaborator("anne@fidu.be")
    known = Browser().post(RESET, {"email": "anne@fidu.be"}, follow=True)
    unknown = Browser().post(RESET, {"email": "personne@fidu.be"}, follow=True)
    # The page only hands the address to the worker, known or not: nothing has left yet.
    assert smtp_server.messages == []
    assert DBTaskResult.objects.filter(task_path__endswith="password_reset_mail").count() == 2
    run_worker()
    assert known.redirect_chain == unknown.redirect_chain
    # Each page has its own CSRF token; everything else is the same.
    strip = re.compile(r"[A-Za-z0-9]{64}")
    assert strip.sub("", known.content.decode()) == strip.sub("", unknown.content.decode())
    assert [m.rcpt_tos for m in smtp_server.messages] == [["anne@fidu.be"]]


def test_without_a_profile_that_can_send_the_page_says_the_same_and_nothing_breaks(
    smtp_server: FakeSMTPServer,
) -> None:
    make_collaborator("anne@fidu.be")
    response = Browser().post(RESET, {"email": "anne@fidu.be"}, follow=True)
    run_worker()
    assert response.status_code == 200
    assert "Si cette adresse est celle d'un collaborateur du cabinet" in response.content.decode()
    assert smtp_server.messages == []


def test_the_collaborators_own_profile_sends_when_the_firm_has_none(
    make_profile: Callable[..., SendingProfile], smtp_server: FakeSMTPServer
) -> None:
    anne = make_collaborator("anne@fidu.be")
    make_profile(server=smtp_server, collaborator=anne)
    Browser().post(RESET, {"email": "anne@fidu.be"})
    run_worker()
    assert [m.rcpt_tos for m in smtp_server.messages] == [["anne@fidu.be"]]


def test_an_inactive_collaborator_gets_no_mail(
    firm_profile: SendingProfile, smtp_server: FakeSMTPServer
) -> None:
    make_collaborator("anne@fidu.be", is_active=False)
    Browser().post(RESET, {"email": "anne@fidu.be"})
    run_worker()
    assert smtp_server.messages == []


def test_a_reset_lifts_the_lock_on_the_account(
    firm_profile: SendingProfile, smtp_server: FakeSMTPServer
) -> None:
    make_collaborator("anne@fidu.be")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Browser().post(LOGIN, {"username": "anne@fidu.be", "password": "wrong"})
    assert not logs_in("anne@fidu.be", PASSWORD)
    Browser().post(RESET, {"email": "anne@fidu.be"})
    run_worker()
    fresh = Browser()
    form = fresh.get(link_in(smtp_server.messages[0].data), follow=True)
    fresh.post(
        form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert logs_in("anne@fidu.be", NEW_PASSWORD)


def test_the_login_page_leads_to_the_reset_page() -> None:
    page = Browser().get(LOGIN).content.decode()
    assert f'href="{RESET}"' in page
    assert Browser().get(RESET).status_code == 200


# -- an administrator sets a password ---------------------------------------------------------


def test_an_administrator_sets_a_colleagues_password() -> None:
    anne = make_collaborator("anne@fidu.be")
    office = Browser()
    office.force_login(make_admin())
    url = reverse("firm:collaborator_password", args=[anne.pk])
    assert url in office.get(reverse("firm:collaborators")).content.decode()
    assert "Définir un mot de passe" in office.get(url).content.decode()
    mismatch = office.post(url, {"password1": NEW_PASSWORD, "password2": "autre"})
    assert mismatch.status_code == 200
    done = office.post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, follow=True)
    assert "Le mot de passe de Anne Martin a été enregistré." in done.content.decode()
    assert logs_in("anne@fidu.be", NEW_PASSWORD)


def test_a_collaborator_cannot_set_a_colleagues_password() -> None:
    anne = make_collaborator("anne@fidu.be")
    bob = make_collaborator("bob@fidu.be", first_name="Bob")
    office = Browser()
    office.force_login(bob)
    url = reverse("firm:collaborator_password", args=[anne.pk])
    assert office.get(url).status_code == 403
    response = office.post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 403
    anne.refresh_from_db()
    assert anne.check_password(PASSWORD)


def test_an_unknown_collaborator_is_404() -> None:
    office = Browser()
    office.force_login(make_admin())
    assert office.get(reverse("firm:collaborator_password", args=[99999])).status_code == 404


# -- the language of the pages before login ---------------------------------------------------


def test_the_login_page_switches_language_for_a_reader_not_logged_in() -> None:
    browser = Browser()
    page = browser.get(LOGIN).content.decode()
    assert '<html lang="fr">' in page
    for code, name in (("fr", "Français"), ("nl", "Nederlands"), ("en", "English")):
        assert f'name="language" value="{code}"' in page
        assert name in page
    response = browser.post(reverse("set_language"), {"language": "nl", "next": LOGIN})
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert '<html lang="nl">' in browser.get(LOGIN).content.decode()
    assert '<html lang="nl">' in browser.get(RESET).content.decode()
    # German is a mail language only: the interface does not speak it, and stays in French.
    browser.post(reverse("set_language"), {"language": "de", "next": LOGIN})
    assert '<html lang="fr">' in browser.get(LOGIN).content.decode()


def test_once_logged_in_the_collaborators_own_language_wins() -> None:
    anne = make_collaborator("anne@fidu.be", language="en")
    browser = Browser()
    browser.post(reverse("set_language"), {"language": "nl", "next": LOGIN})
    browser.post(LOGIN, {"username": anne.email, "password": PASSWORD})
    assert '<html lang="en">' in browser.get(reverse("mailing:my_profile")).content.decode()


def test_set_language_does_not_redirect_elsewhere() -> None:
    response = Browser().post(
        reverse("set_language"), {"language": "en", "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_no_collaborator_row_is_created_by_a_reset_request(firm_profile: SendingProfile) -> None:
    Browser().post(RESET, {"email": "nouveau@fidu.be"})
    run_worker()
    assert not Collaborator.objects.filter(email="nouveau@fidu.be").exists()


def test_the_page_of_a_reset_link_speaks_the_collaborators_language(
    firm_profile: SendingProfile, smtp_server: FakeSMTPServer
) -> None:
    make_collaborator("els@fidu.be", language="nl")
    Browser().post(RESET, {"email": "els@fidu.be"})
    run_worker()
    path = link_in(smtp_server.messages[0].data)

    # Opened in a French browser with no session: the page speaks the mail's language.
    fresh = Browser(HTTP_ACCEPT_LANGUAGE="fr-BE")
    form = fresh.get(path, follow=True)
    assert '<html lang="nl">' in form.content.decode()
    assert "Nieuw wachtwoord" in form.content.decode()
    set_url = form.redirect_chain[-1][0]
    # The page's language switch still works: French picked, French shown.
    picked = fresh.post(reverse("set_language"), {"language": "fr", "next": set_url}, follow=True)
    assert '<html lang="fr">' in picked.content.decode()
    fresh.cookies.pop(settings.LANGUAGE_COOKIE_NAME)
    done = fresh.post(
        set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True
    )
    # The pages that follow keep it (the login page's language cookie).
    assert '<html lang="nl">' in done.content.decode()
    assert fresh.cookies[settings.LANGUAGE_COOKIE_NAME].value == "nl"
    # A wrong link says nothing of whose it would be: the browser's language.
    wrong = Browser(HTTP_ACCEPT_LANGUAGE="fr-BE").get(path[:-3] + "xx/", follow=True)
    assert '<html lang="fr">' in wrong.content.decode()
