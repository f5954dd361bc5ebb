"""Bodies written in the light markup, stored as the application stored them before the editor,
become sanitised HTML through the migration, and nothing a client reads is lost.

The rows are the demo's templates and phrases as they were written (light markup), plus bodies
that exercise every rule of the markup. Before the migration, the text part and the HTML are
computed by the markup reader itself; after it, by rendering the stored HTML: same words in the
same order, same emphasis, same links, same list items.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from html import unescape
from importlib import import_module
from typing import Any

import pytest
from auditlog.context import disable_auditlog
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from courrier.billing import demo as billing_demo
from courrier.demo import seed
from courrier.documents import demo as documents_demo
from courrier.firm.models import Collaborator
from courrier.mailing import rendering, richtext, services
from courrier.mailing.fields import fields_for
from courrier.mailing.models import (
    MailBatch,
    MailTemplate,
    MailTemplateVersion,
    Phrase,
    PhraseVersion,
    SendingProfile,
)
from courrier.mailing.services import Draft
from courrier.taxes import demo as taxes_demo
from tests.fakes.smtp import FakeSMTPServer


@pytest.fixture(autouse=True)
def _no_audit_of_past_schemas() -> Iterator[None]:
    """Rows written while the tables are those of an older migration: the audit log, which
    reads the models of today, stays out of it."""
    with disable_auditlog():
        yield


BEFORE = ("mailing", "0011_template_context_credit_note")
AFTER = ("mailing", "0012_rich_text_bodies")

# Every rule of the light markup, as people wrote it.
WRITTEN = [
    "Bonjour **{NOMCLIENT}**,\n\nVoici *vos* documents et _les nôtres_ : ***urgent***.",
    "À fournir :\n- les extraits **bancaires**\n- les factures d'achat\n\nMerci.",
    "Étapes :\n1. rassembler\n2. envoyer\n\n3. vérifier\n4. signer",
    "Voir [le formulaire](https://www.fidu.be/form?a=1&b=2) ou [écrivez-nous](mailto:info@fidu.be)"
    ", ou https://www.fidu.be/mon_dossier_2026.",
    "Notre [portail](https://portail.fidu.be/{NUMCLIENT}) et {voir annexe}.",
    "Une ligne\n{CONTACT}\nune autre, <b>pas du HTML</b> & 5 < 6.",
    "[clic](javascript:alert(1)) reste du texte ; **gras non fermé",
    "   \n\nDeux lignes vides\n\n\n\navant celle-ci.\n",
]


def written_bodies() -> list[str]:
    """What the demo wrote and what people write: the bodies as they were stored."""
    bodies = [body for versions in seed.TEMPLATES.values() for _s, body in versions.values()]
    bodies += [body for _s, body in billing_demo.TEMPLATE_VERSIONS.values()]
    bodies += [body for _s, body in documents_demo.TEMPLATE.values()]
    bodies += [body for versions in taxes_demo.TEMPLATES.values() for _s, body in versions.values()]
    bodies += [text for versions in seed.PHRASES.values() for text in versions.values()]
    credit_notes = import_module("courrier.billing.migrations.0002_credit_note_mail_template")
    bodies += [body for _s, body in credit_notes.VERSIONS.values()]
    return bodies + WRITTEN


def sample_values(body: str) -> dict[str, str]:
    """A value for every field the body names (some empty, one with markup and HTML in it)."""
    values = {}
    for index, match in enumerate(re.finditer(rendering.TOKEN_RE, body)):
        code = match.group(1)
        values[code] = "" if index % 4 == 3 else f"**{code.lower()}**<i>&</i>_{index}_"
    values["CONTACT"] = ""
    return values


def old_parts(body: str, values: dict[str, str]) -> tuple[str, str]:
    """The text part and the HTML body the markup reader made, straight from its lines."""
    lines, masks = rendering._lines(rendering._body_text(body), values)
    return rendering._body_text_part(lines, masks), rendering._body_html(lines, masks)


def new_parts(stored: str, values: dict[str, str]) -> tuple[str, str]:
    blocks = rendering.body_blocks(stored, values)
    return richtext.text_of(blocks), richtext.mail_html(blocks)


def words(text: str) -> list[str]:
    """The lines a reader reads: blank lines and the list markers' spelling aside."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    return [re.sub(r"^[*•] ", "- ", line) for line in lines]


def features(html: str) -> tuple[Counter[str], list[str], str]:
    tags = Counter(re.findall(r"<(strong|em|a|li|ul|ol)\b", html))
    hrefs = re.findall(r'href="([^"]*)"', html)
    visible = " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
    return tags, hrefs, visible


@pytest.fixture
def migrator(transactional_db: None) -> Iterator[MigrationExecutor]:
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    try:
        yield executor
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def migrate(target: tuple[str, str]) -> None:
    MigrationExecutor(connection).migrate([target])


def store_as_before(bodies: list[str]) -> tuple[Collaborator, list[int], list[int], int]:
    sender = Collaborator.objects.create_user("anne@fidu.be", "pw-anne-1234")
    template = MailTemplate.objects.create(name="Ancien", context="client")
    phrase = Phrase.objects.create(name="Ancienne")
    versions, phrases = [], []
    for index, body in enumerate(bodies):
        # One row per body: a template's version, a phrase's version (four languages each).
        language = ("fr", "nl", "de", "en")[index % 4]
        if index % 4 == 0 and index:
            template = MailTemplate.objects.create(name=f"Ancien {index}", context="client")
            phrase = Phrase.objects.create(name=f"Ancienne {index}")
        versions.append(
            MailTemplateVersion.objects.create(
                template=template, language=language, subject="Sujet", body=body
            ).pk
        )
        phrases.append(PhraseVersion.objects.create(phrase=phrase, language=language, text=body).pk)
    batch = MailBatch.objects.create(sender=sender, subject="Sujet", body=WRITTEN[0], options={})
    return sender, versions, phrases, batch.pk


def test_stored_light_markup_becomes_html_and_nothing_is_lost(migrator: Any) -> None:
    bodies = written_bodies()
    _sender, versions, phrases, batch = store_as_before(bodies)

    migrate(AFTER)

    for pk, body in zip(versions, bodies, strict=True):
        stored = MailTemplateVersion.objects.get(pk=pk).body
        assert richtext.is_stored(stored), stored
        assert PhraseVersion.objects.get(pk=phrases[versions.index(pk)]).text == stored
        values = sample_values(body)
        old_text, old_html = old_parts(body, values)
        new_text, new_html = new_parts(stored, values)
        assert words(new_text) == words(old_text), body
        assert features(new_html) == features(old_html), body
    assert MailBatch.objects.get(pk=batch).body == rendering.markup_html(WRITTEN[0])
    # Fields stay fields: the markup around them is read, they are not filled in.
    first = MailTemplateVersion.objects.get(pk=versions[len(bodies) - len(WRITTEN)]).body
    assert first == (
        "<p>Bonjour <strong>{NOMCLIENT}</strong>,</p>\n"
        "<p>Voici <em>vos</em> documents et <em>les nôtres</em> : "
        "<strong><em>urgent</em></strong>.</p>"
    )


def test_going_back_writes_the_light_markup_again(migrator: Any) -> None:
    _sender, versions, _phrases, _batch = store_as_before(WRITTEN)
    migrate(AFTER)
    html = {pk: MailTemplateVersion.objects.get(pk=pk).body for pk in versions}

    migrate(BEFORE)

    for pk, body in zip(versions, WRITTEN, strict=True):
        back = MailTemplateVersion.objects.get(pk=pk).body
        assert not back.startswith("<"), back
        # Read again as markup, it gives the same HTML: formatting and fields survive.
        assert rendering.markup_html(back) == html[pk], body


def test_an_old_template_arrives_formatted_after_the_migration(
    migrator: Any, smtp_server: FakeSMTPServer, make_client: Any
) -> None:
    sender, versions, _phrases, _batch = store_as_before(WRITTEN[:2])

    migrate(AFTER)
    # Then every later migration, as an upgrade runs them: the profile has today's columns.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    SendingProfile.objects.create(
        collaborator=sender,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=smtp_server.security,
        from_address="anne@fidu.be",
    )
    client = make_client(name="Dupont <b>& Fils</b>", emails=["info@dupont.test"])

    version = MailTemplateVersion.objects.get(pk=versions[1])
    message = services.message_compose(
        sender=sender,
        client=client,
        draft=Draft(
            subject=version.subject,
            body=MailTemplateVersion.objects.get(pk=versions[0]).body + "\n" + version.body,
            language="fr",
            template=version.template,
        ),
    )
    services.messages_deliver(profile_id=message.profile_id)

    mail = smtp_server.wait_for(1)[0].message
    html = mail.get_body(preferencelist=("html",)).get_content()
    text = mail.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    assert "Bonjour <strong>Dupont &lt;b&gt;&amp; Fils&lt;/b&gt; SRL</strong>," in html
    assert "<strong><em>urgent</em></strong>" in html
    assert "<li>les extraits <strong>bancaires</strong></li>" in html
    assert "Bonjour Dupont <b>& Fils</b> SRL," in text
    assert "- les extraits bancaires\n- les factures d'achat" in text
    assert "**" not in text


def test_every_catalogue_field_survives_the_conversion() -> None:
    body = "\n".join(
        f"- **{{{field.code}}}** [lien](https://x.be/{{{field.code}}})"
        for field in fields_for("client")
    )

    stored = rendering.markup_html(body)

    for field in fields_for("client"):
        assert f"<strong>{{{field.code}}}</strong>" in stored
        assert f'href="https://x.be/{{{field.code}}}"' in stored
