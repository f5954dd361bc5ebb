"""Each sending method is declared once, in its module under `mailing.methods`; the profile
form, the readiness rule, the route sentence, the advice and the webhook endpoint read that
declaration, so a new method is a new declaration rather than a branch in each of them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse

from courrier.firm.models import Collaborator
from courrier.mailing import methods
from courrier.mailing.advice import profile_advice
from courrier.mailing.methods.base import API_KEY, WEBHOOK, Advice, FieldGroup, SendingMethod
from courrier.mailing.models import SendingProfile
from courrier.mailing.services.profiles import (
    OAUTH_METHODS,
    WEBHOOK_METHODS,
    profile_route,
    profile_unready,
)
from courrier.mailing.transports import TRANSPORTS
from courrier.mailing.transports.anymail import PostmarkTransport
from courrier.texts import Text, sentence

MY_PROFILE = reverse("mailing:my_profile")


def test_every_method_of_the_model_is_declared_and_nothing_else() -> None:
    assert list(methods.METHODS) == list(SendingProfile.Method.values)
    for code, label in SendingProfile.Method.choices:
        method = methods.get(code)
        assert method is not None, code
        assert method.code == code and str(method.label) == str(label)
        # The transport the declaration names is the one `transport_for` builds.
        assert method.transport is TRANSPORTS[code]
    assert methods.get("pigeon") is None


def test_the_pages_lists_are_read_from_the_declarations() -> None:
    assert OAUTH_METHODS == {"gmail": "google", "microsoft": "microsoft"}
    assert sorted(WEBHOOK_METHODS) == [
        "billit",
        "brevo",
        "mailgun",
        "postmark",
        "recommand",
        "sendgrid",
        "ses",
    ]


def test_the_forms_sections_keep_their_order_and_their_methods() -> None:
    sections = [(group.key, " ".join(codes)) for group, codes in methods.field_groups()]

    assert sections == [
        ("smtp", "smtp"),
        ("imap", "smtp"),
        ("oauth", "gmail microsoft"),
        ("api_key", "sendgrid brevo mailgun postmark"),
        ("sendgrid", "sendgrid"),
        ("mailgun", "mailgun"),
        ("ses", "ses"),
        ("webhook", "sendgrid brevo mailgun postmark ses"),
    ]


# --- a new declaration alone -------------------------------------------------------------------


def _example_unready(profile: SendingProfile, where: Text) -> Text | None:
    if profile.mailgun_domain:
        return None
    return sentence("Example Mail needs its domain: see %(where)s.") % {"where": where}


def _example_route(profile: SendingProfile) -> Text:
    return sentence("Example Mail's API for %(domain)s") % {"domain": profile.mailgun_domain}


def _example_advice(profile: SendingProfile) -> list[Advice]:
    return [Advice("info", sentence("Example Mail keeps a copy for 30 days."))]


ACCOUNT = FieldGroup("example", "Example Mail account", ("mailgun_domain",))
EXAMPLE = SendingMethod(
    code="example",
    label="Example Mail",
    transport=PostmarkTransport,
    groups=(API_KEY, ACCOUNT, WEBHOOK),
    fields=API_KEY.fields + ACCOUNT.fields + WEBHOOK.fields,
    required=("api_key", "mailgun_domain"),
    unready=_example_unready,
    route=_example_route,
    advice=_example_advice,
)


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> SendingMethod:
    monkeypatch.setitem(methods.METHODS, EXAMPLE.code, EXAMPLE)
    return EXAMPLE


def _tag(html: str, pattern: str) -> str:
    match = re.search(pattern, html)
    assert match, pattern
    return match.group(0)


def test_a_new_declaration_is_offered_by_the_settings_page_with_its_sections(
    example: SendingMethod, collaborator: Collaborator
) -> None:
    browser = Browser()
    browser.force_login(collaborator)

    html = browser.get(MY_PROFILE).content.decode()

    assert re.search(r'<option value="example"[^>]*>\s*Example Mail\s*</option>', html)
    own = _tag(html, r'<fieldset[^>]*data-group="example"[^>]*>')
    assert 'data-methods="example"' in own
    for shared in ("api_key", "webhook"):
        tag = _tag(html, rf'<fieldset[^>]*data-group="{shared}"[^>]*>')
        methods_of = re.search(r'data-methods="([^"]*)"', tag)
        assert methods_of and "example" in methods_of.group(1).split(), shared
    # Its own section comes before the webhook's, which stays last.
    assert html.index('data-group="example"') < html.index('data-group="webhook"')


def test_a_new_declaration_says_readiness_route_and_advice(example: SendingMethod) -> None:
    profile: Any = SendingProfile(method="example", from_address="anne@fidu.be")

    unready = profile_unready(profile)
    assert unready is not None
    assert "Example Mail needs its domain" in str(unready) and "Ma fiche" in str(unready)

    profile.mailgun_domain = "mail.fidu.be"
    assert profile_unready(profile) is None
    assert str(profile_route(profile)) == "Example Mail's API for mail.fidu.be"
    assert [str(item.message) for item in profile_advice(profile)] == [
        "Example Mail keeps a copy for 30 days."
    ]
