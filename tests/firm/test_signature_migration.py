"""The one signature of each collaborator, as stored before signatures had a version per mail
language, becomes the version of their interface language; nothing typed is lost, either way.
Then signatures typed as plain text become the HTML the editor writes, and a client still reads
them line by line in the mail."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from auditlog.context import disable_auditlog
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.models import SendingProfile
from courrier.mailing.services import Draft, message_compose, messages_deliver
from tests.fakes.smtp import FakeSMTPServer


@pytest.fixture(autouse=True)
def _no_audit_of_past_schemas() -> Iterator[None]:
    """Rows written while the tables are those of an older migration: the audit log, which
    reads the models of today, stays out of it."""
    with disable_auditlog():
        yield


BEFORE = [("firm", "0004_company_invoice_template")]

SIGNATURES = {
    "sophie@fidu.test": ("fr", "Sophie Dubois\nExpert-comptable\nTél. +32 2 555 10 21"),
    "pieter@fidu.test": ("nl", "Pieter Janssens\nAccountant\nTel. +32 3 555 20 32"),
    "emma@fidu.test": ("en", "Emma Collins\nTax adviser\nPhone +32 2 555 10 45"),
    "luc@fidu.test": ("fr", ""),
}


def _migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_every_signature_in_the_language_its_author_works_in() -> None:
    _migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            for email, (language, signature) in SIGNATURES.items():
                cursor.execute(
                    "INSERT INTO firm_collaborator (password, is_superuser, first_name, "
                    "last_name, is_staff, is_active, date_joined, email, role, language, "
                    "signature, phone) VALUES ('', %s, '', '', %s, %s, CURRENT_TIMESTAMP, %s, "
                    "'collaborator', %s, %s, '')",
                    [False, False, True, email, language, signature],
                )
    finally:
        _migrate(_latest())

    # Then stored as the editor writes them (HTML), their lines kept.
    people = {person.email: person for person in Collaborator.objects.all()}
    assert people["sophie@fidu.test"].signature_fr == (
        "<p>Sophie Dubois<br>Expert-comptable<br>Tél. +32 2 555 10 21</p>"
    )
    assert people["pieter@fidu.test"].signature_nl == (
        "<p>Pieter Janssens<br>Accountant<br>Tel. +32 3 555 20 32</p>"
    )
    assert people["emma@fidu.test"].signature_en == (
        "<p>Emma Collins<br>Tax adviser<br>Phone +32 2 555 10 45</p>"
    )
    assert [people[email].signature_languages for email in SIGNATURES] == [
        ["fr"],
        ["nl"],
        ["en"],
        [],
    ]

    # Back to one signature: each collaborator's, still as typed.
    _migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT email, signature FROM firm_collaborator")
            stored = dict(cursor.fetchall())
    finally:
        _migrate(_latest())
    assert stored == {email: signature for email, (_lang, signature) in SIGNATURES.items()}


BEFORE_RICH_TEXT = [("firm", "0006_company_credit_note_template")]
# Typed before the editor: a "*" and "<...>" that are characters, a blank line, an address.
PLAIN = (
    "Sophie Dubois\nExpert-comptable *agréée*\nTél. <+32 2 555 10 21>\n\n"
    "www.fiduciaire-demo.example"
)


@pytest.mark.django_db(transaction=True)
def test_a_plain_text_signature_from_before_the_editor_keeps_its_lines_in_the_arriving_mail(
    smtp_server: FakeSMTPServer, make_client: Callable[..., Client]
) -> None:
    _migrate(BEFORE_RICH_TEXT)
    try:
        old = MigrationExecutor(connection).loader.project_state(BEFORE_RICH_TEXT[0]).apps
        old.get_model("firm", "Collaborator").objects.create(
            email="sophie@fidu.test", first_name="Sophie", last_name="Dubois", signature_fr=PLAIN
        )
        old.get_model("firm", "BillingCompany").objects.create(
            code="BOEK",
            name="Boekhouding Demo",
            legal_form="BV",
            enterprise_number="0663412791",
            signature_nl="Het team van Boekhouding Demo BV\nFrankrijklei 120, 2000 Antwerpen",
        )
    finally:
        _migrate(_latest())

    sophie = Collaborator.objects.get(email="sophie@fidu.test")
    # Stored as the editor writes it, so that the editor shows her lines as lines.
    assert sophie.signature_fr == (
        "<p>Sophie Dubois<br>Expert-comptable *agréée*<br>Tél. &lt;+32 2 555 10 21&gt;</p>\n"
        "<p>www.fiduciaire-demo.example</p>"
    )
    assert BillingCompany.objects.get(code="BOEK").signature_nl == (
        "<p>Het team van Boekhouding Demo BV<br>Frankrijklei 120, 2000 Antwerpen</p>"
    )

    SendingProfile.objects.create(
        collaborator=sophie,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=smtp_server.security,
        from_address="sophie@fidu.test",
    )
    dupont = make_client(name="Boulangerie Dupont", language="fr", emails=["marie@dupont.test"])
    message = message_compose(
        sender=sophie,
        client=dupont,
        draft=Draft(subject="Vos documents", body="Bonjour,\n\nBien à vous,"),
    )
    messages_deliver(profile_id=message.profile_id)
    [received] = smtp_server.wait_for(1)

    text = received.part("text/plain").replace("\r\n", "\n")
    assert text.endswith("Bien à vous,\n\n-- \n" + PLAIN + "\n")
    html = received.part("text/html").replace("\r\n", "\n")
    assert (
        "Sophie Dubois<br>\nExpert-comptable *agréée*<br>\nTél. &lt;+32 2 555 10 21&gt;</p>"
    ) in html
    assert '<a href="https://www.fiduciaire-demo.example">www.fiduciaire-demo.example</a>' in html
