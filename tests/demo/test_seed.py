"""seed_demo: a valid, complete demo firm, created once however often it runs."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from stdnum import iban as stdnum_iban
from stdnum.be import vat as be_vat

from courrier.clients.models import Client, ClientEmail, ClientSelection, InvoiceChannel, Tag
from courrier.clients.selectors import SelectionFilters, clients_matching
from courrier.demo.seed import DEMO_PASSWORD, peppol_participants
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.mailing.models import (
    MailTemplate,
    MailTemplateVersion,
    Phrase,
    PhraseVersion,
    SendingProfile,
)
from courrier.mailing.rendering import check_fields
from courrier.mailing.richtext import is_stored

pytestmark = pytest.mark.django_db

COUNTED = (
    Collaborator,
    BillingCompany,
    Client,
    ClientEmail,
    MailTemplate,
    MailTemplateVersion,
    Tag,
    Phrase,
    PhraseVersion,
    ClientSelection,
)


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (*COUNTED, SendingProfile, Firm)}


def test_seed_twice_creates_everything_once() -> None:
    call_command("seed_demo", "--smtp-port=2600", verbosity=0)
    first = _counts()
    call_command("seed_demo", "--smtp-port=2600", verbosity=0)

    assert _counts() == first
    assert first["Collaborator"] == 3
    assert first["BillingCompany"] == 2
    assert first["Client"] >= 30
    # A mail profile per collaborator and per company, and Fiduciaire Demo's access point.
    assert first["SendingProfile"] == 6
    assert first["Firm"] == 1
    assert Firm.load().name == "Fiduciaire Demo"


def test_rows_pass_their_validators() -> None:
    call_command("seed_demo", verbosity=0)

    for company in BillingCompany.objects.all():
        company.full_clean()
        assert be_vat.is_valid(company.enterprise_number)
        assert stdnum_iban.is_valid(company.iban)
    clients = list(Client.objects.all())
    for client in clients:
        client.full_clean()
        if client.enterprise_number:
            assert be_vat.is_valid(client.enterprise_number), client
        if client.vat_number:
            assert client.vat_number == "BE" + client.enterprise_number.replace(".", "")
        if client.kind == Client.Kind.PERSON:
            assert client.legal_form == ""
    for collaborator in Collaborator.objects.all():
        collaborator.full_clean()
        assert collaborator.check_password(DEMO_PASSWORD)
        assert collaborator.signature_in(collaborator.language) and collaborator.phone
    Firm.load().full_clean()


def test_signatures_speak_the_languages_of_who_signs() -> None:
    call_command("seed_demo", verbosity=0)

    languages = {c.first_name: c.signature_languages for c in Collaborator.objects.all()}
    assert languages == {
        "Sophie": ["fr", "nl", "en"],
        "Pieter": ["fr", "nl", "de"],
        "Emma": [
            "fr",
            "en",
        ],
    }
    for company in BillingCompany.objects.all():
        assert company.signature_languages == ["fr", "nl", "de", "en"]
        assert str(company) in company.signature_in("nl")
        assert "Tel." in company.signature_in("nl") and "Tél." in company.signature_in("fr")


def test_clients_cover_the_languages_and_the_cases() -> None:
    call_command("seed_demo", verbosity=0)
    clients = Client.objects.all()

    assert {client.language for client in clients} == {"fr", "nl", "de", "en"}
    assert {"Eupen", "Sankt Vith"} <= {client.city for client in clients}
    assert {client.kind for client in clients} == set(Client.Kind.values)
    assert sum(1 for client in clients if not client.addresses()) >= 2
    assert any(client.addresses(ClientEmail.Purpose.INVOICES) for client in clients)
    assert any(client.invoice_channel == "email" for client in clients)
    assert all(client.billing_company and client.responsible for client in clients)
    assert {c.language for c in Collaborator.objects.all()} == {"fr", "nl", "en"}
    assert Collaborator.objects.filter(role=Collaborator.Role.ADMIN).count() == 1
    # Reserved domains only: no mail of the demo can reach a real mailbox.
    addresses = [row.address for row in ClientEmail.objects.all()]
    addresses += [row.email for row in Collaborator.objects.all()]
    addresses += [row.from_address for row in SendingProfile.objects.all()]
    assert all(address.endswith(".example") for address in addresses), addresses


def test_profiles_point_at_the_catcher() -> None:
    call_command("seed_demo", "--smtp-port=2601", verbosity=0)
    call_command("seed_demo", "--smtp-port=2602", verbosity=0)

    profiles = list(SendingProfile.objects.filter(peppol_company__isnull=True))
    assert {(p.smtp_host, p.smtp_port, p.smtp_security, p.smtp_username) for p in profiles} == {
        ("127.0.0.1", 2602, SendingProfile.Security.NONE, "")
    }
    assert all(p.smtp_password == "" for p in profiles)
    assert all(p.collaborator or p.billing_company for p in profiles)


def test_templates_speak_four_languages_with_known_fields() -> None:
    call_command("seed_demo", verbosity=0)

    # The client templates; the other contexts' demo templates are checked by their apps.
    templates = list(MailTemplate.objects.filter(context=MailTemplate.Context.CLIENT))
    assert len(templates) >= 2
    for template in templates:
        assert template.owner is None and template.context == MailTemplate.Context.CLIENT
        versions = {version.language: version for version in template.versions.all()}
        assert set(versions) == {"fr", "nl", "de", "en"}
        for version in versions.values():
            check_fields(version.subject, context="client")
            check_fields(version.body, context="client")
            assert "{FORMULE}" in version.body


def test_an_edited_demo_is_brought_back_without_duplicates() -> None:
    call_command("seed_demo", verbosity=0)
    client = Client.objects.get(number="C0018")
    client.name = "Renamed"
    client.save()
    ClientEmail.objects.filter(client=client).delete()

    call_command("seed_demo", verbosity=0)

    client.refresh_from_db()
    assert client.name == "Bakkerij Peeters"
    assert client.addresses() == [
        "info@bakkerij-peeters.example",
        "boekhouding@bakkerij-peeters.example",
    ]


def test_tags_phrases_and_a_shared_selection_are_there_and_valid() -> None:
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)

    vip = Tag.objects.get(name="VIP")
    assert vip.clients.count() == 4
    assert Client.objects.get(number="C0021").tags.count() == 2
    for version in PhraseVersion.objects.all():
        check_fields(version.text, context="client")
    assert {v.language for v in PhraseVersion.objects.all()} == {"fr", "nl", "de", "en"}

    dutch = ClientSelection.objects.get(name="Clients néerlandophones")
    assert dutch.shared
    matching = clients_matching(filters=SelectionFilters.from_dict(dutch.filters))
    assert matching.exists()
    assert {client.language for client in matching} == {"nl"}


def test_every_body_is_stored_as_the_editor_stores_it() -> None:
    """Templates of every context and the standard phrases: sanitised HTML, as the editor saves
    them (a seed writes plain text with the light markup through `body_html`)."""
    call_command("seed_demo", verbosity=0)

    bodies = [version.body for version in MailTemplateVersion.objects.all()]
    bodies += [version.text for version in PhraseVersion.objects.all()]
    assert len(bodies) >= 20
    for body in bodies:
        assert is_stored(body) and body.startswith("<p>"), body


def test_fiduciaire_demo_sends_e_invoices_through_the_demo_access_point() -> None:
    call_command("seed_demo", "--peppol-port=2603", verbosity=0)
    call_command("seed_demo", "--peppol-port=2604", verbosity=0)

    (access_point,) = SendingProfile.objects.filter(peppol_company__isnull=False)
    assert access_point.peppol_company is not None
    assert access_point.peppol_company.code == "FIDU"
    assert access_point.method == SendingProfile.Method.BILLIT
    # The address follows the port of the last run, as the SMTP port does.
    assert access_point.api_base_url == "http://127.0.0.1:2604"
    assert access_point.state == SendingProfile.State.OK

    fidu = Client.objects.filter(billing_company__code="FIDU")
    on_peppol = [client for client in fidu if client.invoice_channel == InvoiceChannel.PEPPOL]
    assert len(on_peppol) >= 5
    participants = set(peppol_participants())
    for client in on_peppol:
        assert be_vat.is_valid(client.enterprise_number), client
        assert client.peppol_address in participants
    assert sum(client.peppol_courtesy_copy for client in fidu) == 1
    # One Belgian VAT-registered company left on e-mail: the pre-send check blocks its PDF.
    (left,) = [
        client
        for client in fidu
        if client.kind == Client.Kind.COMPANY
        and client.vat_number
        and client.invoice_channel == InvoiceChannel.EMAIL
    ]
    assert left.name == "Pharmacie Renard"
    persons = {
        c.invoice_channel for c in Client.objects.filter(kind=Client.Kind.PERSON, vat_number="")
    }
    assert persons == {InvoiceChannel.EMAIL, InvoiceChannel.PAPER}
