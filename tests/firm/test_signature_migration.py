"""The one signature of each collaborator, as stored before signatures had a version per mail
language, becomes the version of their interface language; nothing typed is lost, either way."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from courrier.firm.models import Collaborator

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
