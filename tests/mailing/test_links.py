"""Secure links: a copy of the file served to whoever has the code, for a limited time.

Checked where the client and the firm would look: the page's answer and headers, the bytes
downloaded, the openings recorded, the mail that carries the code as it arrived.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client as WebClient
from django.utils import timezone

from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.l10n import format_long_date
from courrier.mailing import links
from courrier.mailing.links import (
    MAX_FAILED_ATTEMPTS,
    link_code_mail,
    link_create,
    link_mail_text,
    link_open,
    link_revoke,
    link_url,
)
from courrier.mailing.models import LinkOpening, SecureLink, SendingProfile
from courrier.mailing.services import messages_deliver
from tests.fakes.smtp import FakeSMTPServer

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_URL = "https://courrier.fidu.test"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def client_fr(make_client: Callable[..., Client]) -> Client:
    return make_client(name="Dupuis", language="fr", emails=["info@dupuis.test"])


def make_link(
    client: Client, by: Collaborator | None = None, **options: Any
) -> tuple[SecureLink, str]:
    return link_create(
        client=client,
        name="Déclaration IPP 2026.pdf",
        content_type="application/pdf",
        content=PDF,
        created_by=by,
        **options,
    )


def test_a_link_keeps_a_copy_and_only_a_hash_of_its_code(
    client_fr: Client, collaborator: Collaborator
) -> None:
    link, code = make_link(client_fr, collaborator)
    link.refresh_from_db()
    raw = links.code_normalise(code)
    assert len(raw) == 10 and set(raw) <= set(links.CODE_ALPHABET)
    assert raw not in link.code_hash and code not in link.code_hash
    assert len(link.token) >= 32 and link.token.isalnum()
    assert link.size == len(PDF) and link.sha256 == hashlib.sha256(PDF).hexdigest()
    assert links.link_content(link) == PDF
    # The last day counts whole, in Brussels time.
    expires = timezone.localtime(link.expires_at)
    assert expires.date() == timezone.localdate() + timedelta(days=14)
    assert (expires.hour, expires.minute) == (23, 59)


def test_right_code_opens_and_is_logged(client_fr: Client) -> None:
    link, code = make_link(client_fr)
    typed = code.lower().replace("-", " ")  # as a person may type it
    opened = link_open(token=link.token, code=typed, ip="192.0.2.7", user_agent="Firefox")
    assert opened.pk == link.pk
    opening = LinkOpening.objects.get(link=link)
    assert (opening.outcome, opening.ip, opening.user_agent) == ("opened", "192.0.2.7", "Firefox")


def test_wrong_code_refused_then_locked_after_five(client_fr: Client) -> None:
    link, code = make_link(client_fr)
    for remaining in range(MAX_FAILED_ATTEMPTS - 1, 0, -1):
        with pytest.raises(links.WrongCode) as refused:
            link_open(token=link.token, code="AAAAA-AAAAA", ip="not an ip")
        assert refused.value.remaining == remaining
    with pytest.raises(links.LinkLocked):
        link_open(token=link.token, code="AAAAA-AAAAA")
    # Locked for good: the right code no longer opens it.
    with pytest.raises(links.LinkLocked):
        link_open(token=link.token, code=code)
    outcomes = list(link.openings.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["wrong_code"] * MAX_FAILED_ATTEMPTS + ["locked"]
    assert link.openings.filter(ip__isnull=False).count() == 0  # a bad address is not kept


def test_expired_and_revoked_links_are_refused_and_logged(client_fr: Client) -> None:
    link, code = make_link(client_fr)
    SecureLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(links.LinkExpired):
        link_open(token=link.token, code=code)
    other, other_code = make_link(client_fr)
    link_revoke(link=other)
    with pytest.raises(links.LinkRevoked):
        link_open(token=other.token, code=other_code)
    assert LinkOpening.objects.get(link=link).outcome == "expired"
    assert LinkOpening.objects.get(link=other).outcome == "revoked"


def test_a_code_opens_only_its_own_link(
    make_client: Callable[..., Client], client_fr: Client
) -> None:
    mine, my_code = make_link(client_fr)
    theirs, _their_code = make_link(make_client(name="Autre"))
    with pytest.raises(links.WrongCode):
        link_open(token=theirs.token, code=my_code)
    with pytest.raises(links.LinkNotFound):
        link_open(token=mine.token[:-1], code=my_code)
    with pytest.raises(links.LinkNotFound):
        link_open(token="", code=my_code)


def test_links_of_one_mail_can_share_one_code(client_fr: Client) -> None:
    first, code = make_link(client_fr)
    second, same = make_link(client_fr, code=code)
    assert same == code
    assert link_open(token=second.token, code=code).pk == second.pk
    assert first.code_hash != second.code_hash  # salted by the token


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "fr",
            ["Le document « Déclaration IPP 2026.pdf » est disponible", "jusqu'au", "séparément"],
        ),
        ("nl", ["Het document „Déclaration IPP 2026.pdf”", "tot en met", "afzonderlijk"]),
        ("de", ["Das Dokument", "bis zum", "Zugangscode"]),
        ("en", ["The document", "until", "separately"]),
    ],
)
def test_mail_text_in_each_language(client_fr: Client, language: str, expected: list[str]) -> None:
    link, _code = make_link(client_fr)
    text = link_mail_text([link], language)
    for words in expected:
        assert words in text
    assert f"https://courrier.fidu.test/l/{link.token}/" in text
    assert link_url(link) == f"https://courrier.fidu.test/l/{link.token}/"
    day = timezone.localtime(link.expires_at).date()
    assert format_long_date(day, language) in text


def test_mail_text_never_holds_a_merge_field(client_fr: Client) -> None:
    link, _code = link_create(
        client=client_fr,
        name="{NOMCLIENT}.pdf",
        content_type="application/pdf",
        content=PDF,
        created_by=None,
    )
    assert "{" not in link_mail_text([link], "fr")


def page(web: WebClient, link: SecureLink, **data: str) -> Any:
    url = f"/l/{link.token}/"
    return (
        web.post(url, data, REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT="Test")
        if data
        else web.get(url)
    )


@pytest.mark.django_db
def test_public_page_asks_the_code_then_serves_the_bytes(client_fr: Client) -> None:
    link, code = make_link(client_fr)
    web = WebClient(enforce_csrf_checks=False)
    form = page(web, link)
    assert form.status_code == 200
    assert (
        "Code d&#x27;accès" in form.content.decode()
        and "Déclaration IPP 2026.pdf" in form.content.decode()
    )
    assert "no-store" in form["Cache-Control"]
    served = page(web, link, code=code)
    assert served.status_code == 200
    assert served.content == PDF
    assert served["Content-Type"] == "application/pdf"
    assert served["Content-Disposition"].startswith("attachment;")
    assert "IPP" in served["Content-Disposition"]
    assert "no-store" in served["Cache-Control"]
    assert served["X-Content-Type-Options"] == "nosniff"
    opening = LinkOpening.objects.get(link=link)
    assert (opening.outcome, opening.ip, opening.user_agent) == ("opened", "198.51.100.4", "Test")


@pytest.mark.django_db
def test_an_opening_behind_the_reverse_proxy_records_the_clients_address(
    client_fr: Client,
) -> None:
    link, code = make_link(client_fr)
    web = WebClient(enforce_csrf_checks=False)
    served = web.post(
        f"/l/{link.token}/",
        {"code": code},
        REMOTE_ADDR="127.0.0.1",  # the proxy, trusted by default
        HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.50",  # the left part is the browser's word
        HTTP_USER_AGENT="Test",
    )
    assert served.content == PDF
    assert LinkOpening.objects.get(link=link).ip == "203.0.113.50"


@pytest.mark.django_db
def test_public_page_refuses_in_the_clients_language(make_client: Callable[..., Client]) -> None:
    link, _code = make_link(make_client(language="nl"))
    web = WebClient()
    wrong = page(web, link, code="AAAAA-AAAAA")
    assert wrong.status_code == 403
    assert "Deze code is niet juist. U hebt nog 4 pogingen." in wrong.content.decode()
    empty = page(web, link, code="  ")
    assert empty.status_code == 400 and "Typ de toegangscode." in empty.content.decode()
    SecureLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(days=1))
    expired = page(web, link)
    assert expired.status_code == 410
    assert "Deze link is verlopen" in expired.content.decode()
    assert 'lang="nl"' in expired.content.decode()
    assert list(link.openings.values_list("outcome", flat=True)) == ["expired", "wrong_code"]


@pytest.mark.django_db
def test_public_page_in_german_and_unknown_token(make_client: Callable[..., Client]) -> None:
    link, _code = make_link(make_client(language="de"))
    link_revoke(link=link)
    web = WebClient()
    revoked = page(web, link)
    assert revoked.status_code == 410
    assert "Dieser Link wurde von Ihrem Treuhandbüro deaktiviert" in revoked.content.decode()
    unknown = web.get("/l/" + "x" * 43 + "/")
    assert unknown.status_code == 404
    assert "Ce lien n&#x27;existe pas" in unknown.content.decode()
    assert "Deze link bestaat niet" in unknown.content.decode()


@pytest.mark.django_db
def test_locked_page_after_five_wrong_codes(client_fr: Client) -> None:
    link, code = make_link(client_fr)
    web = WebClient()
    for _ in range(MAX_FAILED_ATTEMPTS):
        page(web, link, code="ZZZZZ-ZZZZZ")
    locked = page(web, link, code=code)
    assert locked.status_code == 403
    assert "bloqué après trop de codes erronés" in locked.content.decode()
    assert PDF not in locked.content


def test_code_arrives_in_a_second_mail(
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., SendingProfile],
    make_client: Callable[..., Client],
) -> None:
    profile = make_profile(server=smtp_server, from_address="anne@fidu.test")
    sender = profile.collaborator
    assert sender is not None
    client = make_client(name="Janssens", language="nl", emails=["info@janssens.test"])
    first, code = make_link(client, sender)
    second, _same = make_link(client, sender, code=code)
    message = link_code_mail(links=[first, second], code=code, sender=sender)
    again = link_code_mail(links=[first, second], code=code, sender=sender)
    assert again.pk == message.pk  # sent once
    assert message.purpose == "link-code"
    messages_deliver(profile_id=profile.pk)
    received = smtp_server.wait_for(1)[0]
    assert received.rcpt_tos == ["info@janssens.test"]
    assert received.message["Subject"] == "Uw toegangscode"
    text = received.part("text/plain")
    assert code in text
    assert "Déclaration IPP 2026.pdf" in text
    assert first.token not in received.data.decode()  # the code mail never carries the link


def test_old_files_are_purged_and_the_record_stays(client_fr: Client) -> None:
    old, code = make_link(client_fr)
    fresh, _fresh_code = make_link(client_fr)
    path = Path(old.file.path)
    link_open(token=old.token, code=code)
    SecureLink.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=31))
    assert links.links_purge() == 1
    assert not path.exists()
    old.refresh_from_db()
    assert not old.file and old.openings.count() == 1
    with pytest.raises(OSError):
        links.link_content(old)
    assert links.link_content(fresh) == PDF
    assert links.links_purge() == 0
