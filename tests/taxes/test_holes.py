"""A BNB mail about a filing not made yet must not leave as "déposés à la Banque nationale le
(référence )": the pre-send check blocks that row, nothing is queued for it, and the other
rows' mails arrive whole."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.mailing import services
from courrier.mailing.models import MailBatch, MailTemplate, OutboundMessage, SendingProfile
from courrier.taxes import demo
from courrier.taxes.models import FilingStatus
from tests.fakes.smtp import FakeSMTPServer
from tests.taxes import factories

HTMX = {"HX-Request": "true"}
HOLE = "Le champ {DATEDEPOT} (Date du dépôt) est vide : le mail ne part pas avec un blanc."


def text_of(response: Any) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    text = unescape(re.sub(r"<[^>]+>", " ", html))
    return re.sub(r"\s+", " ", text.replace("\u202f", " ").replace("\xa0", " "))


def text_of_html(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
def browser(
    collaborator: Collaborator,
    make_profile: Callable[..., SendingProfile],
    smtp_server: FakeSMTPServer,
) -> Browser:
    make_profile(server=smtp_server, collaborator=collaborator)
    demo._seed_templates()  # the firm's BNB template, in four languages, as the demo has it
    browser = Browser()
    browser.force_login(collaborator)
    return browser


def test_a_bnb_row_without_filing_date_is_blocked_and_nothing_is_queued_for_it(
    browser: Browser, make_client: Callable[..., Client], smtp_server: FakeSMTPServer
) -> None:
    filed = factories.bnb(
        make_client(name="Garage Leroy", emails=["info@leroy.be"], contact_name="Paul Leroy"),
        filed_on=date(2026, 6, 28),
        filing_reference="2026-00123456",
        status=FilingStatus.FILED,
    )
    waiting = factories.bnb(
        make_client(name="Boulangerie Dupuis", emails=["info@dupuis.be"], contact_name="Luc")
    )
    template = MailTemplate.objects.get(context="bnb")
    # The ticked rows open the compose window on them, as the list's button does.
    opened = browser.get(
        reverse("taxes:mail", args=["bnb"]), {"objects": [str(filed.pk), str(waiting.pk)]}
    )
    query = parse_qs(urlsplit(opened["Location"]).query)
    version = template.version("fr")
    assert version is not None
    data = {
        "context": query["context"][0],
        "objects": query["objects"][0],
        "template": str(template.pk),
        "language": "fr",
        "subject": version.subject,
        "body": version.body,
        "archive": "on",
        "idempotency_key": "bnb-rows",
    }

    check = browser.post(reverse("mailing:presend"), data, headers=HTMX)
    preview = text_of(browser.post(reverse("mailing:preview") + "?i=1", data, headers=HTMX))
    row = re.search(rf'data-object="{waiting.pk}">(.*?)</tr>', check.content.decode(), re.S)

    assert "1 prêt, 1 bloqué" in text_of(check)
    assert row is not None and "bloqué" in row.group(1) and HOLE in text_of_html(row.group(1))
    assert "Le champ {REFDEPOT} (Référence du dépôt à la BNB) est vide" in text_of_html(
        row.group(1)
    )
    # The preview of that row says so before anything else.
    assert "Ce message ne peut pas partir tel quel" in preview and HOLE in preview

    browser.post(reverse("mailing:compose"), {**data, "send": "1"})
    batch = MailBatch.objects.get()
    services.batch_compose(batch_id=batch.pk)

    batch.refresh_from_db()
    assert list(batch.blocked) == [str(waiting.pk)]
    progress = text_of(browser.get(reverse("mailing:batch_progress", args=[batch.pk])))
    assert "Boulangerie Dupuis" in progress and HOLE in progress
    [message] = OutboundMessage.objects.all()
    assert message.object_id == filed.pk
    services.messages_deliver(profile_id=message.profile_id)
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["info@leroy.be"]
    mail = BytesParser(policy=policy.default).parsebytes(received.data)
    assert isinstance(mail, EmailMessage)
    body = mail.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    text = str(body.get_content())
    assert "déposés à la Banque nationale le 28/06/2026 (référence 2026-00123456)" in text


def test_one_bnb_row_without_filing_date_cannot_be_sent(
    browser: Browser, make_client: Callable[..., Client]
) -> None:
    waiting = factories.bnb(
        make_client(name="Boulangerie Dupuis", emails=["info@dupuis.be"], contact_name="Luc")
    )
    version = MailTemplate.objects.get(context="bnb").version("fr")
    assert version is not None
    data = {
        "context": "bnb",
        "objects": str(waiting.pk),
        "language": "fr",
        "subject": version.subject,
        "body": version.body,
        "archive": "on",
        "idempotency_key": "bnb-one",
        "send": "1",
    }

    response = browser.post(reverse("mailing:compose"), data)

    assert response.status_code == 200 and HOLE in text_of(response)
    assert not OutboundMessage.objects.exists()
