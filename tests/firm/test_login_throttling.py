"""Login throttling: wrong passwords lock an account and an address for a while, the locked-out
reader is told so in their language, and an administrator unlocks. Logins go through the login
page, as a browser posts them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.test import Client as Browser
from django.urls import reverse

from courrier.firm.models import Collaborator
from tests.firm.factories import PASSWORD, make_admin, make_collaborator

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
LIMIT = settings.AXES_FAILURE_LIMIT
ADDRESS_LIMIT = settings.LOGIN_ADDRESS_FAILURE_LIMIT
LOCKED = "Connexion bloquée"


def log_in(
    browser: Browser, email: str, password: str, *, address: str = "203.0.113.7", **headers: str
) -> tuple[int, str]:
    response = browser.post(
        LOGIN, {"username": email, "password": password}, REMOTE_ADDR=address, **headers
    )
    return response.status_code, response.content.decode()


def fail(browser: Browser, email: str, times: int, *, address: str = "203.0.113.7") -> None:
    """`times` wrong passwords: refused on the form until the limit, then locked out."""
    for number in range(1, times + 1):
        status, page = log_in(browser, email, "not-the-password", address=address)
        if number < LIMIT:
            assert status == 200 and "Adresse e-mail ou mot de passe incorrect" in page
        else:
            assert status == 429 and LOCKED in page


def test_wrong_passwords_lock_the_account_even_for_the_right_password() -> None:
    anne = make_collaborator("anne@fidu.be")
    browser = Browser()
    fail(browser, anne.email, LIMIT - 1)
    # One more wrong password: the account is locked.
    status, page = log_in(browser, anne.email, "still-wrong")
    assert status == 429 and LOCKED in page

    status, page = log_in(Browser(), anne.email, PASSWORD)
    assert status == 429
    assert LOCKED in page
    assert "15 minutes" in page
    assert "administrateur du cabinet" in page
    assert "_auth_user_id" not in Browser().session


def test_capitals_and_spaces_count_as_the_same_account() -> None:
    anne = make_collaborator("anne@fidu.be")
    browser = Browser()
    for number in range(LIMIT):
        variant = "ANNE@fidu.be" if number % 2 else " Anne@Fidu.be "
        # A different address each time: only the per-account rule can lock.
        log_in(browser, variant, "wrong", address=f"198.51.100.{number + 1}")
    status, page = log_in(browser, anne.email, PASSWORD, address="192.0.2.200")
    assert status == 429 and LOCKED in page


def test_the_account_is_locked_from_another_address_too() -> None:
    anne = make_collaborator("anne@fidu.be")
    fail(Browser(), anne.email, LIMIT, address="203.0.113.7")
    status, page = log_in(Browser(), anne.email, PASSWORD, address="192.0.2.55")
    assert status == 429 and LOCKED in page


def test_another_account_from_the_same_address_still_logs_in_below_the_address_limit() -> None:
    anne = make_collaborator("anne@fidu.be")
    bob = make_collaborator("bob@fidu.be", first_name="Bob")
    fail(Browser(), anne.email, LIMIT - 1)
    status, _page = log_in(Browser(), bob.email, PASSWORD)
    assert status == 302


def test_an_office_sharing_one_address_is_not_locked_by_a_few_mistakes_of_several() -> None:
    """Five colleagues behind the office's address each mistype three times: more failures
    than one account's limit, far fewer than the address's; the next right password passes."""
    colleagues = [make_collaborator(f"c{n}@fidu.be", first_name=f"C{n}") for n in range(5)]
    for colleague in colleagues:
        for _ in range(3):
            log_in(Browser(), colleague.email, "typo", address="203.0.113.20")
    assert LIMIT < 5 * 3
    for colleague in colleagues:
        status, _page = log_in(Browser(), colleague.email, PASSWORD, address="203.0.113.20")
        assert status == 302


def test_the_address_is_locked_after_failures_on_many_accounts() -> None:
    bob = make_collaborator("bob@fidu.be", first_name="Bob")
    browser = Browser()
    for number in range(ADDRESS_LIMIT - 1):
        log_in(browser, f"guess{number}@fidu.be", "wrong", address="203.0.113.9")
    # One below the address's limit: still open.
    status, _page = log_in(Browser(), bob.email, PASSWORD, address="203.0.113.9")
    assert status == 302
    log_in(browser, "guess-last@fidu.be", "wrong", address="203.0.113.9")
    # Bob's account had no failure, but the address is locked...
    status, page = log_in(Browser(), bob.email, PASSWORD, address="203.0.113.9")
    assert status == 429 and LOCKED in page
    # ... and only that address.
    status, _page = log_in(Browser(), bob.email, PASSWORD, address="192.0.2.10")
    assert status == 302


def test_behind_the_reverse_proxy_the_browsers_address_counts() -> None:
    """Requests come from the proxy on 127.0.0.1; the address it adds to X-Forwarded-For is
    the browser's, and what the browser wrote itself before it is not believed."""
    bob = make_collaborator("bob@fidu.be", first_name="Bob")
    browser = Browser()
    for number in range(ADDRESS_LIMIT):
        log_in(
            browser,
            f"guess{number}@fidu.be",
            "wrong",
            address="127.0.0.1",
            # The attacker writes a new address each time; the proxy appends the real one.
            HTTP_X_FORWARDED_FOR=f"10.0.0.{number}, 203.0.113.66",
        )
    status, page = log_in(
        Browser(), bob.email, PASSWORD, address="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.66"
    )
    assert status == 429 and LOCKED in page
    # Another browser behind the same proxy is not locked.
    status, _page = log_in(
        Browser(), bob.email, PASSWORD, address="127.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.77"
    )
    assert status == 302


def test_the_lock_ends_after_the_cool_off() -> None:
    anne = make_collaborator("anne@fidu.be")
    fail(Browser(), anne.email, LIMIT)
    assert log_in(Browser(), anne.email, PASSWORD)[0] == 429
    # The clock moves on past the cool-off (the failures are that old).
    earlier = settings.AXES_COOLOFF_TIME + timedelta(minutes=1)
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= earlier
        attempt.save(update_fields=["attempt_time"])
    status, _page = log_in(Browser(), anne.email, PASSWORD)
    assert status == 302


def test_the_locked_out_page_speaks_the_readers_language() -> None:
    anne = make_collaborator("anne@fidu.be")
    fail(Browser(), anne.email, LIMIT)
    browser = Browser()
    browser.cookies[settings.LANGUAGE_COOKIE_NAME] = "nl"
    status, page = log_in(browser, anne.email, PASSWORD)
    assert status == 429
    assert '<html lang="nl">' in page


def test_an_administrator_unlocks_from_the_collaborators_page() -> None:
    anne = make_collaborator("anne@fidu.be")
    admin = make_admin()
    fail(Browser(), anne.email, LIMIT)

    office = Browser()
    office.force_login(admin)
    page = office.get(reverse("firm:collaborators")).content.decode()
    assert "connexion bloquée" in page
    unlock = reverse("firm:collaborator_unlock", args=[anne.pk])
    assert unlock in page
    response = office.post(unlock, follow=True)
    assert "Anne Martin peut de nouveau se connecter." in response.content.decode()
    assert "connexion bloquée" not in office.get(reverse("firm:collaborators")).content.decode()

    assert log_in(Browser(), anne.email, PASSWORD)[0] == 302


def test_a_collaborator_cannot_unlock() -> None:
    anne = make_collaborator("anne@fidu.be")
    bob = make_collaborator("bob@fidu.be", first_name="Bob")
    fail(Browser(), anne.email, LIMIT)
    office = Browser()
    office.force_login(bob)
    response = office.post(reverse("firm:collaborator_unlock", args=[anne.pk]))
    assert response.status_code == 403
    assert log_in(Browser(), anne.email, PASSWORD)[0] == 429


def test_the_axes_command_unlocks_an_account() -> None:
    anne = make_collaborator("anne@fidu.be")
    fail(Browser(), anne.email, LIMIT)
    call_command("axes_reset_username", "anne@fidu.be")
    assert log_in(Browser(), anne.email, PASSWORD)[0] == 302


def test_the_django_admin_lists_the_attempts_for_an_administrator() -> None:
    fail(Browser(), "anne@fidu.be", 2)
    superuser = Collaborator.objects.create_superuser("root@fidu.be", PASSWORD)
    office = Browser()
    office.force_login(superuser)
    page = office.get(reverse("admin:axes_accessattempt_changelist")).content.decode()
    assert "anne@fidu.be" in page


def test_the_typed_passwords_are_not_kept_with_the_attempts() -> None:
    browser = Browser()
    log_in(browser, "anne@fidu.be", "Secret-tape-1")
    log_in(browser, "anne@fidu.be", "Secret-tape-2")
    stored = " ".join(
        f"{attempt.post_data} {attempt.get_data}" for attempt in AccessAttempt.objects.all()
    )
    assert "anne@fidu.be" not in stored
    assert "Secret-tape" not in stored
