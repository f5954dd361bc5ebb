"""The client list, the client file and the client form, as the office staff use them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import Client as ClientRecord
from courrier.clients.models import ClientEmail
from courrier.firm.models import Collaborator
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services.contents import contents_store
from tests.clients.factories import make_client
from tests.firm.factories import make_admin, make_collaborator, make_company

pytestmark = pytest.mark.django_db

LIST = reverse("clients:list")
CREATE = reverse("clients:create")
HTMX = {"HX-Request": "true"}
TABS = ("Fiche", "Mails", "Documents", "Factures")


@pytest.fixture
def anne(client: Browser) -> Collaborator:
    """A logged-in collaborator (not an administrator)."""
    collaborator = make_collaborator()
    client.force_login(collaborator)
    return collaborator


def form_data(*emails: tuple[str, str], **overrides: Any) -> dict[str, Any]:
    """What the browser posts for the client form with these (address, purpose) rows."""
    data: dict[str, Any] = {
        "number": "C0100",
        "kind": "company",
        "name": "Boulangerie Émile",
        "legal_form": "SRL",
        "enterprise_number": "0477 472 701",
        "vat_number": "",
        "language": "fr",
        "contact_name": "Émile Lejeune",
        "salutation": "Cher Monsieur Lejeune",
        "phone": "",
        "street": "Rue de la Gare 3",
        "postal_code": "5000",
        "city": "Namur",
        "country": "BE",
        "billing_company": "",
        "responsible": "",
        "invoice_channel": "paper",
        "peppol_id": "",
        "active": "on",
        "emails-TOTAL_FORMS": str(len(emails)),
        "emails-INITIAL_FORMS": "0",
        "emails-MIN_NUM_FORMS": "0",
        "emails-MAX_NUM_FORMS": "20",
    }
    for index, (address, purpose) in enumerate(emails):
        data[f"emails-{index}-address"] = address
        data[f"emails-{index}-purpose"] = purpose
    data.update(overrides)
    return data


def names_on(html: str, *candidates: str) -> set[str]:
    return {name for name in candidates if name in html}


# --- list and search ----------------------------------------------------------------------


def test_list_shows_the_columns_and_a_send_button(client: Browser, anne: Collaborator) -> None:
    company = make_company()
    record = make_client(
        "C0042",
        emails=("info@peeters.be",),
        billing_company=company,
        responsible=anne,
        invoice_channel="email",
    )
    html = client.get(LIST).content.decode()
    for text in ("C0042", "Bakkerij Peeters BV", "info@peeters.be", "Fiduciaire Dubois SRL"):
        assert text in html
    assert "Anne Martin" in html
    assert f"{reverse('mailing:compose')}?client={record.pk}" in html
    assert "Envoyer un e-mail" in html
    assert reverse("clients:detail", args=[record.pk]) in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("peeters", {"Bakkerij Peeters"}),
        ("PEETERS", {"Bakkerij Peeters"}),
        ("emile", {"Boulangerie Émile"}),  # accents ignored
        ("ÉMILE", {"Boulangerie Émile"}),
        ("c0007", {"Boulangerie Émile"}),  # number
        ("info@peeters", {"Bakkerij Peeters"}),  # e-mail address
        ("factures@", {"Boulangerie Émile"}),  # second address of a client
        ("lejeune", {"Boulangerie Émile"}),  # contact person
        ("boulangerie namur", set()),  # every word must match
        ("boulangerie emile", {"Boulangerie Émile"}),
        ("%", set()),
        ("_", set()),
    ],
)
def test_search(client: Browser, anne: Collaborator, query: str, expected: set[str]) -> None:
    make_client("C0042", name="Bakkerij Peeters", emails=("info@peeters.be",))
    make_client(
        "C0007",
        name="Boulangerie Émile",
        contact_name="Émile Lejeune",
        emails=("emile@boulangerie.be", "factures@boulangerie.be"),
    )
    response = client.get(LIST, {"q": query})
    assert response.status_code == 200
    html = response.content.decode()
    assert names_on(html, "Bakkerij Peeters", "Boulangerie Émile") == expected


def test_a_client_with_two_matching_addresses_is_listed_once(
    client: Browser, anne: Collaborator
) -> None:
    make_client("C0042", emails=("a@peeters.be", "b@peeters.be"))
    html = client.get(LIST, {"q": "peeters.be"}).content.decode()
    assert html.count(">C0042<") == 1


def test_pagination_and_garbage_query_strings(client: Browser, anne: Collaborator) -> None:
    for index in range(60):
        make_client(f"C{index:04d}", name=f"Client {index:02d}")
    first = client.get(LIST).content.decode()
    assert "Client 00" in first and "Client 59" not in first
    second = client.get(LIST, {"page": "2"}).content.decode()
    assert "Client 59" in second and "Client 00" not in second
    for garbage in ({"page": "abc"}, {"page": "-1"}, {"page": "99999"}, {"q": "\x00<script>"}):
        response = client.get(LIST, garbage)
        assert response.status_code == 200
    assert "&lt;script&gt;" in client.get(LIST, {"q": "<script>"}).content.decode()


def test_a_nul_character_in_the_search_is_ignored(client: Browser, anne: Collaborator) -> None:
    # PostgreSQL answers an error to a NUL in a parameter: it must never reach the database.
    make_client("C0042", name="Bakkerij Peeters")
    response = client.get(LIST, {"q": "Pee\x00ters"})
    assert response.status_code == 200
    assert "Bakkerij Peeters" in response.content.decode()


def test_search_from_htmx_returns_the_results(client: Browser, anne: Collaborator) -> None:
    make_client("C0042", name="Bakkerij Peeters")
    response = client.get(LIST, {"q": "bakk"}, headers=HTMX)
    assert response.status_code == 200
    assert 'id="client-results"' in response.content.decode()


# --- client file ----------------------------------------------------------------------------


def test_client_file_shows_identity_addresses_and_flags(
    client: Browser, anne: Collaborator
) -> None:
    record = make_client(
        "C0042",
        emails=("info@peeters.be",),
        enterprise_number="0477.472.701",
        street="Markt 1",
        postal_code="9000",
        city="Gent",
        invoice_channel="email",
    )
    ClientEmail.objects.create(
        client=record, address="boekhouding@peeters.be", purpose="invoices", position=1
    )
    html = client.get(reverse("clients:detail", args=[record.pk])).content.decode()
    for text in (
        "Bakkerij Peeters BV",
        "0477.472.701",
        "Markt 1",
        "9000 Gent",
        "info@peeters.be",
        "boekhouding@peeters.be",
        "factures",  # the purpose of the second address
        "Fiche",
        "Mails",
    ):
        assert text in html, text
    assert f"{reverse('mailing:compose')}?client={record.pk}" in html
    assert f'href="{reverse("clients:detail", args=[record.pk])}?tab=mails"' in html


def test_unknown_client_is_a_404(client: Browser, anne: Collaborator) -> None:
    assert client.get(reverse("clients:detail", args=[999])).status_code == 404
    assert client.get(reverse("clients:mails", args=[999])).status_code == 404


def make_message(record: ClientRecord, sender: Collaborator, **extra: Any) -> OutboundMessage:
    profile, _created = SendingProfile.objects.get_or_create(
        collaborator=sender, defaults={"from_address": sender.email}
    )
    fields: dict[str, Any] = {
        "language": "nl",
        "subject": "Uw documenten",
        "from_address": sender.email,
        "to": ["info@peeters.be"],
        "status": OutboundMessage.Status.SENT,
    }
    fields.update(extra)
    message = OutboundMessage.objects.create(
        profile=profile,
        sender=sender,
        client=record,
        message_id=f"<{OutboundMessage.objects.count()}@fidu.be>",
        **fields,
    )
    contents_store([(message, b"Subject: x\r\n\r\nx\r\n")])
    return message


def test_mails_tab_lists_the_archived_messages(client: Browser, anne: Collaborator) -> None:
    record = make_client("C0042", emails=("info@peeters.be",))
    sent = make_message(record, anne, subject="Uw documenten")
    make_message(record, anne, subject="Pas archivé", archived=False)
    make_message(make_client("C0043"), anne, subject="Autre client")

    partial = client.get(reverse("clients:mails", args=[record.pk]), headers=HTMX)
    assert partial.status_code == 200
    html = partial.content.decode()
    assert "<html" not in html
    assert "Uw documenten" in html
    assert "badge badge-sent" in html
    assert reverse("mailing:message_detail", args=[sent.pk]) in html
    assert "Pas archivé" not in html and "Autre client" not in html

    # Without HTMX (a bookmark, no JavaScript): the whole file, opened on the Mails tab.
    for url in (
        reverse("clients:mails", args=[record.pk]),
        reverse("clients:detail", args=[record.pk]) + "?tab=mails",
    ):
        page = client.get(url).content.decode()
        assert "<html" in page and "Uw documenten" in page


def test_a_bad_tab_opens_the_file(client: Browser, anne: Collaborator) -> None:
    record = make_client()
    response = client.get(reverse("clients:detail", args=[record.pk]), {"tab": "x", "page": "z"})
    assert response.status_code == 200


def test_the_selected_tab_comes_with_the_swapped_content(
    client: Browser, anne: Collaborator
) -> None:
    """Tabs and panel are one block from the server: after "back", the Mails content never
    shows under a selected "Fiche" tab."""
    record = make_client("C0042", emails=("info@peeters.be",))
    detail = reverse("clients:detail", args=[record.pk])
    for tab, selected in (("fiche", "Fiche"), ("mails", "Mails")):
        html = client.get(detail, {"tab": tab}, headers=HTMX).content.decode()
        block = html[html.index('<div id="client-tabs"') :]
        tabs = re.findall(r'<a role="tab"[^>]*aria-selected="(true|false)"[^>]*>([^<]+)</a>', block)
        assert tabs == [("true" if label == selected else "false", label) for label in TABS]
        assert block.count('hx-select="#client-tabs"') == len(TABS)


def test_the_mails_tab_refreshes_while_a_mail_is_on_its_way(
    client: Browser, anne: Collaborator
) -> None:
    record = make_client("C0042", emails=("info@peeters.be",))
    message = make_message(record, anne, status=OutboundMessage.Status.QUEUED)
    mails = reverse("clients:mails", args=[record.pk])

    html = client.get(mails, headers=HTMX).content.decode()
    assert 'id="client-mails-panel"' in html
    assert f'hx-get="{mails}"' in html and 'hx-trigger="every 4s"' in html
    assert "en file d&#x27;attente" in html

    # Once the worker has settled it, the panel stops asking.
    message.status = OutboundMessage.Status.SENT
    message.save(update_fields=["status"])
    html = client.get(mails, headers=HTMX).content.decode()
    assert "envoyé" in html and "hx-trigger" not in html

    # A message held for its settings waits for a person: no polling either.
    message.status = OutboundMessage.Status.HELD
    message.save(update_fields=["status"])
    assert "hx-trigger" not in client.get(mails, headers=HTMX).content.decode()


# --- create and edit -------------------------------------------------------------------------


def test_create_a_client_with_addresses(client: Browser, anne: Collaborator) -> None:
    response = client.post(
        CREATE,
        form_data(
            ("emile@boulangerie.be", "general"),
            ("Factures@Boulangerie.BE", "invoices"),
            invoice_channel="email",
            responsible=str(anne.pk),
        ),
    )
    record = ClientRecord.objects.get(number="C0100")
    assert response.status_code == 302
    assert response["Location"] == reverse("clients:detail", args=[record.pk])
    assert record.enterprise_number == "0477.472.701"
    assert record.responsible == anne
    assert record.invoice_channel == "email"
    assert [(e.address, e.purpose, e.position) for e in record.emails.all()] == [
        ("emile@boulangerie.be", "general", 0),
        ("Factures@boulangerie.be", "invoices", 1),
    ]
    assert record.invoice_addresses() == ["Factures@boulangerie.be"]
    assert "a été créé" in client.get(response["Location"]).content.decode()


def test_the_empty_form_renders(client: Browser, anne: Collaborator) -> None:
    html = client.get(CREATE).content.decode()
    assert 'name="emails-TOTAL_FORMS"' in html
    assert 'id="emails-empty"' in html and "emails-__prefix__-address" in html


def test_invalid_enterprise_number_is_shown_in_french_and_nothing_typed_is_lost(
    client: Browser, anne: Collaborator
) -> None:
    response = client.post(
        CREATE,
        form_data(
            ("emile@boulangerie.be", "general"),
            ("factures@boulangerie.be", "invoices"),
            enterprise_number="0477.472.702",
        ),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "n&#x27;est pas un numéro d&#x27;entreprise belge valide" in html
    for typed in (
        'value="0477.472.702"',
        'value="Boulangerie Émile"',
        'value="Cher Monsieur Lejeune"',
        'value="emile@boulangerie.be"',
        'value="factures@boulangerie.be"',
    ):
        assert typed in html, typed
    assert not ClientRecord.objects.exists()


def test_invalid_address_is_a_field_error(client: Browser, anne: Collaborator) -> None:
    response = client.post(CREATE, form_data(("emile@", "general")))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Cette adresse e-mail n&#x27;est pas valide (exemple : nom@domaine.be)." in html
    assert 'value="emile@"' in html
    # Only the wrong field is marked, not the whole row (its "usage" choice is fine).
    assert 'aria-invalid="true"' in html and 'class="field-invalid"' not in html
    assert not ClientRecord.objects.exists()


def test_invoices_by_email_needs_an_address(client: Browser, anne: Collaborator) -> None:
    response = client.post(CREATE, form_data(invoice_channel="email"))
    assert response.status_code == 200
    assert "indiquez au moins une adresse" in response.content.decode()
    assert not ClientRecord.objects.exists()
    # Without the flag, a client without an address is fine.
    assert client.post(CREATE, form_data()).status_code == 302


@pytest.mark.parametrize("second", ["emile@Boulangerie.be", "Emile@boulangerie.be"])
def test_duplicate_addresses_are_refused(client: Browser, anne: Collaborator, second: str) -> None:
    response = client.post(
        CREATE, form_data(("emile@boulangerie.be", "general"), (second, "invoices"))
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "figure deux fois" in html or "figure déjà" in html
    assert not ClientRecord.objects.exists()


def test_duplicate_client_number_is_a_field_error(client: Browser, anne: Collaborator) -> None:
    make_client("C0100")
    response = client.post(CREATE, form_data())
    assert response.status_code == 200
    html = response.content.decode()
    assert "Un autre client porte déjà ce numéro." in html
    assert "Un objet Client" not in html


def test_edit_a_client_removes_and_adds_addresses(client: Browser, anne: Collaborator) -> None:
    record = make_client("C0042", emails=("old@peeters.be", "keep@peeters.be"))
    old, keep = record.emails.all()
    page = client.get(reverse("clients:edit", args=[record.pk])).content.decode()
    assert 'value="old@peeters.be"' in page

    data = form_data(
        number="C0042",
        name="Bakkerij Peeters",
        language="nl",
        enterprise_number="",
        invoice_channel="email",
        **{
            "emails-TOTAL_FORMS": "3",
            "emails-INITIAL_FORMS": "2",
            "emails-0-id": str(old.pk),
            "emails-0-address": "old@peeters.be",
            "emails-0-purpose": "general",
            "emails-0-DELETE": "on",
            "emails-1-id": str(keep.pk),
            "emails-1-address": "keep@peeters.be",
            "emails-1-purpose": "general",
            "emails-2-address": "facturen@peeters.be",
            "emails-2-purpose": "invoices",
        },
    )
    response = client.post(reverse("clients:edit", args=[record.pk]), data)
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.invoice_channel == "email"
    assert [(e.address, e.position) for e in record.emails.all()] == [
        ("keep@peeters.be", 0),
        ("facturen@peeters.be", 1),
    ]


def test_saving_an_invoice_client_with_its_addresses_unchanged(
    client: Browser, anne: Collaborator
) -> None:
    record = make_client("C0042", emails=("info@peeters.be",), invoice_channel="email")
    address = record.emails.get()
    data = form_data(
        number="C0042",
        name="Bakkerij Peeters BV",
        invoice_channel="email",
        **{
            "emails-TOTAL_FORMS": "2",
            "emails-INITIAL_FORMS": "1",
            "emails-0-id": str(address.pk),
            "emails-0-address": "info@peeters.be",
            "emails-0-purpose": "general",
            "emails-1-address": "",
            "emails-1-purpose": "general",
        },
    )
    response = client.post(reverse("clients:edit", args=[record.pk]), data)
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.name == "Bakkerij Peeters BV"
    assert record.addresses() == ["info@peeters.be"]


def test_removing_the_last_address_of_an_invoice_client_is_refused(
    client: Browser, anne: Collaborator
) -> None:
    record = make_client("C0042", emails=("info@peeters.be",), invoice_channel="email")
    address = record.emails.get()
    data = form_data(
        number="C0042",
        name="Bakkerij Peeters",
        invoice_channel="email",
        **{
            "emails-TOTAL_FORMS": "1",
            "emails-INITIAL_FORMS": "1",
            "emails-0-id": str(address.pk),
            "emails-0-address": "info@peeters.be",
            "emails-0-purpose": "general",
            "emails-0-DELETE": "on",
        },
    )
    response = client.post(reverse("clients:edit", args=[record.pk]), data)
    assert response.status_code == 200
    assert "indiquez au moins une adresse" in response.content.decode()
    assert record.emails.count() == 1


def test_admins_edit_clients_too(client: Browser) -> None:
    client.force_login(make_admin())
    record = make_client("C0042")
    assert client.get(reverse("clients:edit", args=[record.pk])).status_code == 200


def test_a_broken_management_form_is_not_a_500(client: Browser, anne: Collaborator) -> None:
    data = form_data()
    del data["emails-TOTAL_FORMS"]
    response = client.post(CREATE, data)
    assert response.status_code == 200
    assert not ClientRecord.objects.exists()


def test_the_list_sorts_names_as_people_read_them(client: Browser, anne: Collaborator) -> None:
    make_client("C1", name="Brouwerij Wouters")
    make_client("C2", name="Bäckerei Radermacher")
    make_client("C3", name="atelier Dumont")
    make_client("C4", name="Zeeman")
    html = client.get(LIST).content.decode()
    positions = [html.index(name) for name in ("atelier", "Bäckerei", "Brouwerij", "Zeeman")]
    assert positions == sorted(positions)


def test_empty_choices_read_as_words(client: Browser, anne: Collaborator) -> None:
    html = client.get(CREATE).content.decode()
    assert "— aucune —" in html and "— aucun —" in html
    assert "---------" not in html


def test_the_client_form_speaks_dutch_for_a_dutch_collaborator(client: Browser) -> None:
    client.force_login(make_collaborator(language="nl"))
    assert '<html lang="nl">' in client.get(CREATE).content.decode()
