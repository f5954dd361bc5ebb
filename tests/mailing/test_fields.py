"""The merge-field catalogue and the values it gives for a real client, in four languages."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.utils import translation

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.l10n import format_date
from courrier.mailing.fields import (
    CLIENT_FIELDS,
    MAIL_FIELDS,
    client_values,
    fields_for,
)

NEW_YEARS_EVE = date(2026, 12, 31)


def make_collaborator(email: str, **extra: Any) -> Collaborator:
    return Collaborator.objects.create_user(email, "not-used-here", **extra)


def make_client(number: str = "C0042", **extra: Any) -> Client:
    fields: dict[str, Any] = {"name": "Boulangerie Dupont", "legal_form": "SRL"}
    fields.update(extra)
    return Client.objects.create(number=number, **fields)


@pytest.fixture
def realistic_client(db: None) -> Client:
    firm = Firm.load()
    firm.name = "Fiduciaire Martin"
    firm.phone = "+32 2 765 43 20"
    firm.website = "https://www.fidu-martin.be"
    firm.save()
    company = BillingCompany.objects.create(
        code="FIDU", name="Fidu Martin", legal_form="SRL", enterprise_number="0403.170.701"
    )
    responsible = make_collaborator(
        "luc.peeters@fidu-martin.be", first_name="Luc", last_name="Peeters", phone="+32 2 765 43 21"
    )
    client = make_client(
        kind=Client.Kind.COMPANY,
        enterprise_number="0403.170.701",
        vat_number="BE0403170701",
        language="fr",
        contact_name="Marie Dupont",
        salutation="Chère Madame Dupont",
        street="Rue de la Loi 16",
        postal_code="1000",
        city="Bruxelles",
        country="BE",
        phone="+32 2 123 45 67",
        billing_company=company,
        responsible=responsible,
    )
    ClientEmail.objects.create(
        client=client, address="factures@dupont.be", purpose="invoices", position=0
    )
    ClientEmail.objects.create(client=client, address="marie@dupont.be", position=1)
    ClientEmail.objects.create(client=client, address="info@dupont.be", position=2)
    return client


@pytest.fixture
def sender(db: None) -> Collaborator:
    return make_collaborator(
        "anne.martin@fidu-martin.be", first_name="Anne", last_name="Martin", phone="+32 2 765 43 22"
    )


def test_the_catalogue_has_unique_codes_labels_and_examples() -> None:
    fields = fields_for("client")
    codes = [field.code for field in fields]
    assert len(codes) == len(set(codes))
    with translation.override("fr"):
        for field in fields:
            assert str(field.label) and str(field.group) and field.example
    assert {"NOMCLIENT", "FORMULE", "ADRESSECOMPLETE", "CABINET", "DATE", "ANNEE"} <= set(codes)


def test_an_unknown_context_is_refused() -> None:
    with pytest.raises(ValueError, match="nowhere"):
        fields_for("nowhere")


def test_every_client_field_is_filled_for_a_realistic_client(
    realistic_client: Client, sender: Collaborator
) -> None:
    values = client_values(
        client=realistic_client, sender=sender, language="fr", today=NEW_YEARS_EVE
    )

    # The mail's own fields (how its files go) are filled when the mail is drafted.
    assert set(values) == {field.code for field in CLIENT_FIELDS}
    assert fields_for("client") == [*CLIENT_FIELDS, *MAIL_FIELDS]
    assert [code for code, value in values.items() if not value] == []
    assert values == {
        "NOMCLIENT": "Boulangerie Dupont SRL",
        "NUMCLIENT": "C0042",
        "FORMEJURIDIQUE": "SRL",
        "TYPECLIENT": "société",
        "CONTACT": "Marie Dupont",
        "FORMULE": "Chère Madame Dupont",
        "LANGUE": "français",
        "EMAIL": "marie@dupont.be",
        "TELCLIENT": "+32 2 123 45 67",
        "ADRESSE": "Rue de la Loi 16",
        "CP": "1000",
        "LOCALITE": "Bruxelles",
        "PAYS": "Belgique",
        "ADRESSECOMPLETE": "Rue de la Loi 16\n1000 Bruxelles",
        "NUMENTREPRISE": "0403.170.701",
        "NUMTVA": "BE 0403.170.701",
        "RESPONSABLE": "Luc Peeters",
        "RESPONSABLE_EMAIL": "luc.peeters@fidu-martin.be",
        "RESPONSABLE_TEL": "+32 2 765 43 21",
        "EXPEDITEUR": "Anne Martin",
        "EXPEDITEUR_EMAIL": "anne.martin@fidu-martin.be",
        "EXPEDITEUR_TEL": "+32 2 765 43 22",
        "CABINET": "Fiduciaire Martin",
        "CABINET_TEL": "+32 2 765 43 20",
        "CABINET_SITE": "https://www.fidu-martin.be",
        "SOCIETEFACTURANTE": "Fidu Martin SRL",
        "DATE": "31/12/2026",
        "DATELONGUE": "31 décembre 2026",
        "ANNEE": "2026",
        "ANNEEPRECEDENTE": "2025",
    }


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "nl",
            {
                "PAYS": "België",
                "LANGUE": "Nederlands",
                "TYPECLIENT": "vennootschap",
                "FORMULE": "Geachte heer, mevrouw",
                "DATE": "31/12/2026",
                "DATELONGUE": "31 december 2026",
            },
        ),
        (
            "de",
            {
                "PAYS": "Belgien",
                "LANGUE": "Deutsch",
                "TYPECLIENT": "Gesellschaft",
                "FORMULE": "Sehr geehrte Damen und Herren",
                "DATE": "31.12.2026",
                "DATELONGUE": "31. Dezember 2026",
            },
        ),
        (
            "en",
            {
                "PAYS": "Belgium",
                "LANGUE": "English",
                "TYPECLIENT": "company",
                "FORMULE": "Dear Sir or Madam",
                "DATE": "31/12/2026",
                "DATELONGUE": "31 December 2026",
            },
        ),
        (
            "fr",
            {
                "PAYS": "Belgique",
                "LANGUE": "français",
                "TYPECLIENT": "société",
                "FORMULE": "Madame, Monsieur",
                "DATE": "31/12/2026",
                "DATELONGUE": "31 décembre 2026",
            },
        ),
    ],
)
def test_words_follow_the_recipient_language(
    db: None, language: str, expected: dict[str, str]
) -> None:
    client = make_client(language=language, country="BE")

    values = client_values(client=client, sender=None, language=language, today=NEW_YEARS_EVE)

    assert {code: values[code] for code in expected} == expected


def test_the_interface_language_does_not_leak_into_the_mail(db: None) -> None:
    client = make_client(language="de", kind=Client.Kind.NONPROFIT, legal_form="VoG")

    with translation.override("nl"):
        values = client_values(client=client, sender=None, language="de", today=NEW_YEARS_EVE)

    assert values["TYPECLIENT"] == "VoG"
    assert values["PAYS"] == "Belgien"
    assert values["NOMCLIENT"] == "Boulangerie Dupont VoG"


def test_a_private_person_is_named_without_legal_form_and_is_their_own_contact(
    db: None,
) -> None:
    client = make_client(kind=Client.Kind.PERSON, name="Jan Peeters", legal_form="", language="nl")

    values = client_values(client=client, sender=None, language="nl", today=NEW_YEARS_EVE)

    assert values["NOMCLIENT"] == "Jan Peeters"
    assert values["CONTACT"] == "Jan Peeters"
    assert values["TYPECLIENT"] == "natuurlijke persoon"


def test_a_foreign_address_ends_with_the_country_in_the_mail_language(db: None) -> None:
    client = make_client(street="Kerkstraat 1", postal_code="4811 AB", city="Breda", country="NL")

    values = client_values(client=client, sender=None, language="fr", today=NEW_YEARS_EVE)

    assert values["ADRESSECOMPLETE"] == "Kerkstraat 1\n4811 AB Breda\nPays-Bas"
    assert values["PAYS"] == "Pays-Bas"


def test_missing_data_gives_empty_values_not_errors(db: None) -> None:
    client = make_client()
    ClientEmail.objects.create(client=client, address="factures@dupont.be", purpose="invoices")

    values = client_values(client=client, sender=None, language="en", today=NEW_YEARS_EVE)

    for code in ("EXPEDITEUR", "EXPEDITEUR_EMAIL", "RESPONSABLE", "SOCIETEFACTURANTE", "NUMTVA"):
        assert values[code] == ""
    # Without a general address, the only address the client has.
    assert values["EMAIL"] == "factures@dupont.be"


def test_today_defaults_to_the_current_date(db: None) -> None:
    from django.utils import timezone

    values = client_values(client=make_client(), sender=None, language="de")

    assert values["DATE"] == format_date(timezone.localdate(), "de")
    assert values["ANNEE"] == str(timezone.localdate().year)
