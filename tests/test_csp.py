"""The Content-Security-Policy is on every page, and the templates need nothing it refuses.

Every address without a parameter is opened as the firm's administrator, then a few pages of
each app that need an object (a client file, an invoice, a message of the archive, the admin's
forms, a secure link opened by a client, the frame of a mail's HTML): each answer carries the
policy, whatever its status. The templates are read too: no inline script, no event-handler
attribute, no inline style, which the policy would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client as WebClient
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RoutePattern

import courrier
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.links import link_create
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services.contents import contents_store
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.clients.factories import make_client

HEADER = "Content-Security-Policy"
# Addresses a GET would act on rather than show.
NOT_WALKED = ("deconnexion/",)


def routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[str]:
    """Every address of the URL configuration that takes no parameter."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        pattern = entry.pattern
        if not isinstance(pattern, RoutePattern) or pattern.converters:
            continue  # a regular expression (admin) or a parameter: opened below with objects
        route = prefix + str(pattern)
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and route not in NOT_WALKED:
            yield "/" + route


@pytest.fixture
def administrator(db: None, settings: Any, tmp_path: Path) -> WebClient:
    settings.MEDIA_ROOT = tmp_path / "media"
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Martin"})
    admin = Collaborator.objects.create_user(
        "chef@fidu.test",
        "pw-chef-1234",
        role=Collaborator.Role.ADMIN,
        is_staff=True,
        is_superuser=True,
    )
    browser = WebClient(raise_request_exception=False)
    browser.force_login(admin)
    return browser


def test_every_page_without_parameters_carries_the_policy(administrator: WebClient) -> None:
    walked = sorted(set(routes()))
    assert len(walked) > 20
    missing = [url for url in walked if HEADER not in administrator.get(url)]
    assert missing == []
    policy = administrator.get("/clients/")[HEADER]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in policy
    assert "form-action 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_pages_with_objects_carry_the_policy(
    administrator: WebClient, make_profile: Callable[..., SendingProfile]
) -> None:
    company = make_billing_company()
    record = make_invoice_client("C1", name="Boulangerie Dupuis", emails=("c@dupuis.test",))
    invoice = make_invoice(company, record)
    other = make_client(name="Weber", language="de", emails=["info@weber.test"])
    admin = Collaborator.objects.get()
    profile = make_profile(collaborator=admin)
    message = OutboundMessage.objects.create(
        profile=profile,
        sender=admin,
        language="fr",
        message_id="<csp.1@fidu.test>",
        subject="Votre dossier",
        from_address=admin.email,
        to=["c@dupuis.test"],
        envelope_recipients=["c@dupuis.test"],
    )
    contents_store(
        [
            (
                message,
                b"Subject: Votre dossier\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                b'<p style="color:red">Bonjour</p><script>alert(1)</script>\r\n',
            )
        ]
    )
    pages = [
        reverse("clients:detail", args=[record.pk]),
        reverse("clients:edit", args=[other.pk]),
        reverse("billing:invoice", args=[invoice.pk]),
        reverse("billing:email_register", args=[company.code]),
        reverse("billing:paper_register", args=[company.code]),
        reverse("mailing:message_detail", args=[message.pk]),
        reverse("mailing:company_profile", args=[company.pk]),
        "/admin/",
        "/admin/clients/client/",
        f"/admin/clients/client/{record.pk}/change/",
        "/admin/mailing/outboundmessage/",
        "/nowhere/",
    ]
    for url in pages:
        response = administrator.get(url)
        assert response.status_code in (200, 404), (url, response.status_code)
        assert HEADER in response, url

    # The message's HTML: in a sandboxed frame, served with a policy that runs no script.
    page = administrator.get(reverse("mailing:message_detail", args=[message.pk])).content
    frame = re.search(rb'<iframe[^>]*sandbox=""[^>]*src="([^"]+)"', page)
    assert frame is not None
    shown = administrator.get(frame.group(1).decode())
    assert b"Bonjour" in shown.content
    frame_policy = shown[HEADER]
    assert "default-src 'none'" in frame_policy and "sandbox" in frame_policy
    assert "script" not in frame_policy and "frame-ancestors 'self'" in frame_policy
    assert shown["X-Frame-Options"] == "SAMEORIGIN"
    # Only the session that showed the page reads its frame.
    assert WebClient().get(frame.group(1).decode()).status_code == 404


def test_the_secure_link_page_carries_the_policy(db: None, settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Martin"})
    client = make_client(name="Weber", language="de", emails=["info@weber.test"])
    link, _code = link_create(
        client=client,
        name="Bilan.pdf",
        content_type="application/pdf",
        content=b"%PDF-1.4\n%%EOF\n",
        created_by=None,
    )
    response = WebClient().get(reverse("links:open", args=[link.token]))
    assert response.status_code == 200
    assert "script-src 'self'" in response[HEADER]


TEMPLATES = sorted(Path(courrier.__file__).parent.glob("**/templates/**/*.html"))
# The server-error page stands alone (it must show when nothing else works): its inline style
# is let in by a policy of its own (`courrier.errors.SERVER_ERROR_POLICY`, tested with the page).
SELF_CONTAINED = {"500.html"}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_no_template_needs_what_the_policy_refuses(template: Path) -> None:
    if template.name in SELF_CONTAINED:
        pytest.skip("stands alone")
    html = template.read_text()
    inline_scripts = [tag for tag in re.findall(r"<script\b[^>]*>", html) if "src=" not in tag]
    assert inline_scripts == []
    assert re.findall(r"\son[a-z]+\s*=", html) == []
    assert "javascript:" not in html
    assert re.findall(r"\sstyle\s*=", html) == []
    assert re.findall(r"<style\b", html) == []
