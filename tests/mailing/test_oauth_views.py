"""Connecting and disconnecting a Gmail mailbox through the pages, against a fake Google.

Django's test client plays the browser: it posts "Connecter mon Gmail", follows the redirect
to the fake consent screen (a real HTTPS request to 127.0.0.1), which sends it back to the
callback with a code and the state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client as Browser
from django.urls import reverse

from courrier.firm.models import Collaborator
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import Draft, message_bytes, message_compose, messages_deliver
from tests.fakes.google import GMAIL_SEND, USERINFO_EMAIL, FakeGoogle, connected_profile
from tests.fakes.smtp import TestCA
from tests.firm.factories import make_company

Status = OutboundMessage.Status
MY_PROFILE = "/courrier/ma-fiche/"


@pytest.fixture
def google(test_ca: TestCA) -> Iterator[FakeGoogle]:
    with FakeGoogle(test_ca) as fake, fake.configured():
        yield fake


@pytest.fixture
def owner(make_collaborator: Callable[..., Collaborator]) -> Collaborator:
    return make_collaborator(email="anne@fidu.test")


@pytest.fixture
def profile(make_profile: Callable[..., SendingProfile], owner: Collaborator) -> SendingProfile:
    """A Gmail profile chosen in the settings, not connected yet."""
    return make_profile(
        collaborator=owner, method="gmail", smtp_host="", from_address="anne@fidu.test"
    )


@pytest.fixture
def browser(client: Browser, owner: Collaborator) -> Browser:
    client.force_login(owner)
    return client


def texts(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def connect(browser: Browser, profile: SendingProfile, *, next_url: str = MY_PROFILE) -> Any:
    response = browser.post(reverse("mailing:oauth_connect", args=[profile.pk]), {"next": next_url})
    assert response.status_code == 302, texts(response)
    return response


def consent(url: str) -> str:
    """The browser at Google's consent screen: where it is sent back (path and query)."""
    answer = requests.get(url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert back.netloc == "testserver"
    return f"{back.path}?{back.query}"


def raw_column(profile: SendingProfile, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM mailing_sendingprofile WHERE id = %s",  # noqa: S608
            [profile.pk],
        )
        return str(cursor.fetchone()[0])


def oauth_columns(profile: SendingProfile) -> dict[str, Any]:
    return dict(
        SendingProfile.objects.filter(pk=profile.pk)
        .values(
            "oauth_provider",
            "oauth_account",
            "oauth_refresh_token",
            "oauth_access_token",
            "oauth_expires_at",
            "oauth_connected_at",
            "state",
        )
        .get()
    )


# -- connecting -------------------------------------------------------------------------------


def test_connect_my_gmail(google: FakeGoogle, browser: Browser, profile: SendingProfile) -> None:
    google.extra_scopes = ["https://www.googleapis.com/auth/calendar.readonly"]
    response = connect(browser, profile)
    url = response["Location"]
    assert url.startswith(google.auth_uri)
    asked = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    assert asked["scope"].split() == [GMAIL_SEND, "openid", "email"]
    assert asked["access_type"] == "offline"
    assert asked["prompt"] == "consent"
    assert asked["code_challenge_method"] == "S256"
    assert asked["login_hint"] == "anne@fidu.test"
    assert asked["redirect_uri"] == "http://testserver/courrier/oauth/google/callback/"

    response = browser.get(consent(url))

    assert response.status_code == 302
    assert response["Location"] == MY_PROFILE
    assert any("Boîte mail connectée : anne@fidu.test" in text for text in texts(response))
    profile.refresh_from_db()
    assert profile.oauth_provider == "google"
    assert profile.oauth_account == "anne@fidu.test"
    assert profile.oauth_connected_at is not None
    assert profile.oauth_expires_at is not None
    assert profile.state == SendingProfile.State.OK
    assert google.refresh_token_valid(profile.oauth_refresh_token)
    # Google granted more than asked: accepted, and recorded.
    assert GMAIL_SEND in profile.oauth_scopes.split()
    assert USERINFO_EMAIL in profile.oauth_scopes.split()
    # Stored encrypted: the column never holds a token as it is.
    for column, token in (
        ("oauth_refresh_token", profile.oauth_refresh_token),
        ("oauth_access_token", profile.oauth_access_token),
    ):
        stored = raw_column(profile, column)
        assert stored.startswith("fernet:")
        assert token not in stored
    # The PKCE verifier and the state were used once and forgotten.
    assert not browser.session.get("oauth_pending_google")


def test_the_connected_mailbox_sends(
    google: FakeGoogle,
    browser: Browser,
    profile: SendingProfile,
    make_client: Callable[..., Any],
    owner: Collaborator,
    django_capture_on_commit_callbacks: Any,
) -> None:
    browser.get(consent(connect(browser, profile)["Location"]))
    with django_capture_on_commit_callbacks(execute=False):
        message = message_compose(
            sender=owner,
            client=make_client(emails=["info@dupuis.test"]),
            draft=Draft(subject="Bonjour", body="Bonjour."),
        )
    messages_deliver(profile_id=profile.pk)
    message.refresh_from_db()
    assert message.status == Status.SENT
    [sent] = google.sent
    assert sent.delivered == message_bytes(message)


def test_a_forged_state_is_refused_and_changes_nothing(
    google: FakeGoogle, browser: Browser, profile: SendingProfile
) -> None:
    connect(browser, profile)
    before = oauth_columns(profile)
    response = browser.get(
        reverse("mailing:oauth_callback_google"), {"state": "forged", "code": "4/stolen"}
    )
    assert response.status_code == 302
    assert response["Location"] == MY_PROFILE
    [text] = texts(response)
    assert "ne correspond à aucune connexion en cours" in text
    assert oauth_columns(profile) == before
    assert google.token_requests == []


def test_a_replayed_callback_is_refused(
    google: FakeGoogle, browser: Browser, profile: SendingProfile
) -> None:
    callback = consent(connect(browser, profile)["Location"])
    browser.get(callback)
    before = oauth_columns(profile)
    requests_before = len(google.token_requests)

    response = browser.get(callback)

    assert any("ne correspond à aucune connexion en cours" in t for t in texts(response))
    assert oauth_columns(profile) == before
    assert len(google.token_requests) == requests_before


def test_a_callback_in_another_session_is_refused(
    google: FakeGoogle,
    browser: Browser,
    profile: SendingProfile,
    make_collaborator: Callable[..., Collaborator],
) -> None:
    """A victim lured to an attacker's callback link: the state is not in the victim's session."""
    callback = consent(connect(browser, profile)["Location"])
    victim = Browser()
    victim.force_login(make_collaborator())
    response = victim.get(callback)
    assert any("ne correspond à aucune connexion en cours" in t for t in texts(response))
    assert oauth_columns(profile)["oauth_refresh_token"] == ""


def test_a_wrong_code_verifier_is_refused_by_google(
    google: FakeGoogle, browser: Browser, profile: SendingProfile
) -> None:
    callback = consent(connect(browser, profile)["Location"])
    session = browser.session
    pending = session["oauth_pending_google"]
    for entry in pending.values():
        entry["verifier"] = "x" * 64
    session["oauth_pending_google"] = pending
    session.save()

    response = browser.get(callback)

    assert any("refusé le code d'autorisation" in t for t in texts(response))
    assert oauth_columns(profile)["oauth_refresh_token"] == ""


def test_consent_refused(google: FakeGoogle, browser: Browser, profile: SendingProfile) -> None:
    google.deny = True
    response = browser.get(consent(connect(browser, profile)["Location"]))
    assert any("connexion à Gmail a été annulée" in t for t in texts(response))
    assert oauth_columns(profile)["oauth_refresh_token"] == ""
    assert google.token_requests == []


def test_sending_permission_unticked(
    google: FakeGoogle, browser: Browser, profile: SendingProfile
) -> None:
    google.untick_send = True
    response = browser.get(consent(connect(browser, profile)["Location"]))
    assert any("cochez « Envoyer des e-mails en votre nom »" in t for t in texts(response))
    assert oauth_columns(profile)["oauth_refresh_token"] == ""


def test_google_down_during_the_callback(
    google: FakeGoogle, browser: Browser, profile: SendingProfile
) -> None:
    callback = consent(connect(browser, profile)["Location"])
    google.fail_token(503)
    response = browser.get(callback)
    assert any("réessayez" in t for t in texts(response))
    assert oauth_columns(profile)["oauth_refresh_token"] == ""


def test_a_sender_address_of_another_account_is_warned(
    google: FakeGoogle, browser: Browser, profile: SendingProfile
) -> None:
    google.account = "anne.perso@gmail.test"
    response = browser.get(consent(connect(browser, profile)["Location"]))
    assert any("remplacera l'expéditeur" in t for t in texts(response))


def test_the_public_url_makes_the_callback_address(
    google: FakeGoogle, browser: Browser, profile: SendingProfile, settings: Any
) -> None:
    settings.PUBLIC_URL = "https://courrier.fidu.be"
    url = connect(browser, profile)["Location"]
    asked = parse_qs(urlsplit(url).query)
    assert asked["redirect_uri"] == ["https://courrier.fidu.be/courrier/oauth/google/callback/"]


def test_not_configured(
    google: FakeGoogle, browser: Browser, profile: SendingProfile, settings: Any
) -> None:
    settings.OAUTH = {**settings.OAUTH, "GOOGLE_CLIENT_ID": ""}
    response = connect(browser, profile)
    assert response["Location"] == MY_PROFILE
    # The collaborator who clicked reads plain words, not the installation's variables.
    assert texts(response) == [
        "L'envoi par Gmail n'est pas encore activé pour le cabinet : demandez à "
        "l'administrateur du cabinet de l'activer."
    ]


def test_an_smtp_password_profile_has_nothing_to_connect(
    google: FakeGoogle, browser: Browser, profile: SendingProfile
) -> None:
    SendingProfile.objects.filter(pk=profile.pk).update(method="smtp", smtp_host="smtp.fidu.be")
    response = connect(browser, profile)
    assert response["Location"] == MY_PROFILE
    assert any("ne se connecte pas par OAuth" in t for t in texts(response))


def test_smtp_with_xoauth2_at_gmail_asks_for_full_mail_access(
    google: FakeGoogle, browser: Browser, profile: SendingProfile
) -> None:
    SendingProfile.objects.filter(pk=profile.pk).update(
        method="smtp", smtp_host="smtp.gmail.com", smtp_auth="xoauth2"
    )
    url = connect(browser, profile)["Location"]
    assert parse_qs(urlsplit(url).query)["scope"] == ["https://mail.google.com/ openid email"]
    browser.get(consent(url))
    profile.refresh_from_db()
    assert profile.oauth_provider == "google"
    assert "https://mail.google.com/" in profile.oauth_scopes.split()


# -- who may ------------------------------------------------------------------------------------


def test_only_the_owner_or_an_admin_connects(
    google: FakeGoogle,
    profile: SendingProfile,
    make_collaborator: Callable[..., Collaborator],
) -> None:
    url = reverse("mailing:oauth_connect", args=[profile.pk])
    colleague = Browser()
    colleague.force_login(make_collaborator())
    assert colleague.post(url).status_code == 403

    admin = Browser()
    admin.force_login(make_collaborator(role=Collaborator.Role.ADMIN))
    response = admin.post(url)
    assert response.status_code == 302
    assert response["Location"].startswith(google.auth_uri)
    # An administrator connecting a colleague's mailbox comes back to that colleague's fiche.
    response = admin.get(consent(response["Location"]))
    assert response["Location"] == f"{MY_PROFILE}?collaborator={profile.collaborator_id}"


def test_connect_needs_a_post(browser: Browser, profile: SendingProfile) -> None:
    assert browser.get(reverse("mailing:oauth_connect", args=[profile.pk])).status_code == 405


def test_login_required(client: Browser, profile: SendingProfile) -> None:
    for response in (
        client.post(reverse("mailing:oauth_connect", args=[profile.pk])),
        client.get(reverse("mailing:oauth_callback_google"), {"state": "s", "code": "c"}),
        client.post(reverse("mailing:oauth_disconnect", args=[profile.pk])),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_a_billing_companys_mailbox_returns_to_its_page(
    google: FakeGoogle,
    make_profile: Callable[..., SendingProfile],
    make_collaborator: Callable[..., Collaborator],
) -> None:
    company = make_company()
    profile = make_profile(
        billing_company=company, method="gmail", smtp_host="", from_address="factures@fidu.test"
    )
    admin = Browser()
    admin.force_login(make_collaborator(role=Collaborator.Role.ADMIN))
    response = admin.post(reverse("mailing:oauth_connect", args=[profile.pk]))
    google.account = "factures@fidu.test"
    response = admin.get(consent(response["Location"]))
    assert response["Location"] == reverse("mailing:company_profile", args=[company.pk])
    profile.refresh_from_db()
    assert profile.oauth_account == "factures@fidu.test"


def test_an_outside_next_address_is_ignored(
    google: FakeGoogle, browser: Browser, profile: SendingProfile
) -> None:
    response = connect(browser, profile, next_url="https://evil.test/")
    response = browser.get(consent(response["Location"]))
    assert response["Location"] == MY_PROFILE


# -- reconnecting and disconnecting -------------------------------------------------------------


def test_reconnecting_sends_the_held_messages_once(
    google: FakeGoogle,
    browser: Browser,
    make_profile: Callable[..., SendingProfile],
    owner: Collaborator,
    make_client: Callable[..., Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    profile = connected_profile(google, make_profile, collaborator=owner, account="anne@fidu.test")
    customer = make_client(emails=["info@dupuis.test"])
    with django_capture_on_commit_callbacks(execute=False):
        held = [
            message_compose(
                sender=owner, client=customer, draft=Draft(subject=f"Mail {n}", body="Bonjour.")
            )
            for n in (1, 2)
        ]
    google.revoke_all()
    SendingProfile.objects.filter(pk=profile.pk).update(oauth_expires_at=None)
    messages_deliver(profile_id=profile.pk)
    assert {OutboundMessage.objects.get(pk=m.pk).status for m in held} == {Status.HELD}

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = browser.get(consent(connect(browser, profile)["Location"]))
    assert any("2 messages en attente repartent" in t for t in texts(response))
    assert callbacks  # delivery is enqueued
    messages_deliver(profile_id=profile.pk)
    messages_deliver(profile_id=profile.pk)
    assert {OutboundMessage.objects.get(pk=m.pk).status for m in held} == {Status.SENT}
    assert sorted(s.received.message["Subject"] for s in google.sent) == ["Mail 1", "Mail 2"]


def test_disconnect(
    google: FakeGoogle,
    browser: Browser,
    make_profile: Callable[..., SendingProfile],
    owner: Collaborator,
    make_client: Callable[..., Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    profile = connected_profile(google, make_profile, collaborator=owner, account="anne@fidu.test")
    refresh = profile.oauth_refresh_token
    with django_capture_on_commit_callbacks(execute=False):
        message = message_compose(
            sender=owner,
            client=make_client(emails=["info@dupuis.test"]),
            draft=Draft(subject="Bonjour", body="Bonjour."),
        )

    response = browser.post(
        reverse("mailing:oauth_disconnect", args=[profile.pk]), {"next": MY_PROFILE}
    )

    assert response.status_code == 302
    assert response["Location"] == MY_PROFILE
    assert any("anne@fidu.test est déconnectée" in t for t in texts(response))
    assert google.revoke_requests == [refresh]
    assert not google.refresh_token_valid(refresh)
    profile.refresh_from_db()
    assert profile.oauth_refresh_token == ""
    assert profile.oauth_access_token == ""
    assert profile.oauth_account == "anne@fidu.test"
    assert profile.state == SendingProfile.State.RECONNECT
    assert "déconnectée" in profile.state_reason
    # The profile stays; what was waiting waits for the reconnection.
    messages_deliver(profile_id=profile.pk)
    message.refresh_from_db()
    assert message.status == Status.HELD
    assert google.sent == []


def test_disconnect_when_google_cannot_be_reached(
    google: FakeGoogle,
    browser: Browser,
    make_profile: Callable[..., SendingProfile],
    owner: Collaborator,
    settings: Any,
) -> None:
    profile = connected_profile(google, make_profile, collaborator=owner)
    settings.OAUTH = {**settings.OAUTH, "GOOGLE_REVOKE_URI": "https://127.0.0.1:9/revoke"}
    response = browser.post(reverse("mailing:oauth_disconnect", args=[profile.pk]))
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.oauth_refresh_token == ""
    assert profile.state == SendingProfile.State.RECONNECT


def test_disconnect_by_a_colleague_is_refused(
    google: FakeGoogle,
    make_profile: Callable[..., SendingProfile],
    make_collaborator: Callable[..., Collaborator],
) -> None:
    profile = connected_profile(google, make_profile)
    colleague = Browser()
    colleague.force_login(make_collaborator())
    response = colleague.post(reverse("mailing:oauth_disconnect", args=[profile.pk]))
    assert response.status_code == 403
    profile.refresh_from_db()
    assert google.refresh_token_valid(profile.oauth_refresh_token)
