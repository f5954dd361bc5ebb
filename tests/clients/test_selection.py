"""Selections of clients: each filter, the builder page (count, clients without an address), and
saved selections (saving, sharing, deleting, re-evaluated at each use)."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from courrier.clients.models import Client as ClientRecord
from courrier.clients.models import ClientSelection, Tag
from courrier.clients.selectors import SelectionFilters, clients_matching, selection_preview
from courrier.firm.models import Collaborator
from tests.clients.factories import make_client
from tests.firm.factories import make_admin, make_collaborator, make_company

SELECTION = reverse("clients:selection")
SAVE = reverse("clients:selection_save")
SELECTIONS = reverse("clients:selections")
RESULTS = {"HX-Request": "true", "HX-Target": "sel-results"}
BUILDER = {"HX-Request": "true", "HX-Target": "sel-builder"}


def numbers(filters: SelectionFilters) -> list[str]:
    return [client.number for client in clients_matching(filters=filters)]


def matching(**filters: Any) -> list[str]:
    return sorted(numbers(SelectionFilters(**filters)))


def text_of(html: str) -> str:
    """The page as a person reads it: tags removed, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.fixture
def anne(client: Browser) -> Collaborator:
    """A logged-in collaborator (not an administrator)."""
    person = make_collaborator("anne@fidu.be")
    client.force_login(person)
    return person


# --- each filter ------------------------------------------------------------------------


@pytest.mark.django_db
class TestFilters:
    def test_no_filter_is_every_active_client(self) -> None:
        make_client("C1")
        make_client("C2", active=False)
        assert matching() == ["C1"]

    def test_language(self) -> None:
        make_client("C1", language="nl")
        make_client("C2", language="fr")
        assert matching(language="nl") == ["C1"]

    def test_billing_company(self) -> None:
        fidu = make_company("FIDU")
        other = make_company("CONS", enterprise_number="0417.497.106", name="Conseil")
        make_client("C1", billing_company=fidu)
        make_client("C2", billing_company=other)
        make_client("C3")
        assert matching(billing_company=fidu.pk) == ["C1"]

    def test_responsible_collaborator(self) -> None:
        anne = make_collaborator("anne@fidu.be")
        luc = make_collaborator("luc@fidu.be")
        make_client("C1", responsible=anne)
        make_client("C2", responsible=luc)
        assert matching(responsible=anne.pk) == ["C1"]

    def test_client_type(self) -> None:
        make_client("C1", kind=ClientRecord.Kind.PERSON)
        make_client("C2", kind=ClientRecord.Kind.COMPANY)
        make_client("C3", kind=ClientRecord.Kind.NONPROFIT)
        assert matching(kind="nonprofit") == ["C3"]

    def test_legal_form_ignores_case(self) -> None:
        make_client("C1", legal_form="SRL")
        make_client("C2", legal_form="srl")
        make_client("C3", legal_form="SA")
        make_client("C4", legal_form="SRLU")
        assert matching(legal_form="Srl") == ["C1", "C2"]

    def test_invoices_by_email(self) -> None:
        make_client("C1", invoice_channel="email", emails=("a@x.be",))
        make_client("C2", invoice_channel="paper")
        assert matching(invoice_channel="email") == ["C1"]
        assert matching(invoice_channel="paper") == ["C2"]

    def test_has_email(self) -> None:
        make_client("C1", emails=("a@x.be", "b@x.be"))
        make_client("C2")
        assert matching(has_email=True) == ["C1"]
        assert matching(has_email=False) == ["C2"]

    def test_free_text_over_name_number_and_address(self) -> None:
        make_client("C0042", name="Bakkerij Peeters")
        make_client("C0100", name="Garage Dupont", emails=("compta@peeters-frères.be",))
        make_client("X7", name="Autre")
        assert matching(text="peeters") == ["C0042", "C0100"]
        assert matching(text="c0042") == ["C0042"]
        assert matching(text="x7") == ["X7"]

    def test_free_text_ignores_accents_and_case(self) -> None:
        make_client("C1", name="Boulangerie Émile")
        make_client("C2", name="Bäckerei Müller")
        make_client("C3", name="Emilie")
        assert matching(text="emile") == ["C1"]
        assert matching(text="ÉMILE") == ["C1"]
        assert matching(text="backerei muller") == ["C2"]
        assert matching(text="Müller") == ["C2"]

    def test_tags_any_of(self) -> None:
        vip = Tag.objects.create(name="VIP")
        horeca = Tag.objects.create(name="Horeca")
        other = Tag.objects.create(name="Autre")
        make_client("C1").tags.add(vip)
        make_client("C2").tags.add(horeca)
        make_client("C3").tags.add(vip, horeca)
        make_client("C4").tags.add(other)
        make_client("C5")
        # Any of the tags; a client with both is listed once.
        assert numbers(SelectionFilters(tags=[vip.pk, horeca.pk])) == ["C1", "C2", "C3"]
        assert matching(tags=[vip.pk]) == ["C1", "C3"]

    def test_filters_combine(self) -> None:
        fidu = make_company()
        vip = Tag.objects.create(name="VIP")
        anne = make_collaborator()
        wanted: dict[str, Any] = {
            "language": "nl",
            "billing_company": fidu,
            "responsible": anne,
            "kind": ClientRecord.Kind.COMPANY,
            "legal_form": "BV",
            "invoice_channel": "email",
        }
        make_client("C1", emails=("a@x.be",), **wanted).tags.add(vip)
        # Each of these misses exactly one filter.
        make_client("C2", emails=("b@x.be",), **{**wanted, "language": "fr"}).tags.add(vip)
        make_client("C3", emails=("c@x.be",), **{**wanted, "billing_company": None}).tags.add(vip)
        make_client("C4", emails=("d@x.be",), **{**wanted, "responsible": None}).tags.add(vip)
        make_client("C5", emails=("e@x.be",), **{**wanted, "kind": "person"}).tags.add(vip)
        make_client("C6", emails=("f@x.be",), **{**wanted, "legal_form": "NV"}).tags.add(vip)
        make_client("C7", emails=("g@x.be",), **{**wanted, "invoice_channel": "paper"}).tags.add(
            vip
        )
        make_client("C8", emails=("h@x.be",), **wanted)  # no tag
        make_client("C9", **{**wanted, "invoice_channel": "paper"}).tags.add(vip)  # no address
        make_client("C10", name="Autre nom", emails=("i@x.be",), **wanted).tags.add(vip)
        make_client("C11", emails=("j@x.be",), active=False, **wanted).tags.add(vip)
        everything = SelectionFilters(
            language="nl",
            billing_company=fidu.pk,
            responsible=anne.pk,
            kind="company",
            legal_form="bv",
            invoice_channel="email",
            has_email=True,
            text="peeters",
            tags=[vip.pk],
        )
        assert numbers(everything) == ["C1"]

    def test_an_id_that_names_nothing_matches_nobody(self) -> None:
        """A saved selection whose tag was deleted does not widen to every client."""
        vip = Tag.objects.create(name="VIP")
        make_client("C1").tags.add(vip)
        make_client("C2")
        filters = SelectionFilters(tags=[vip.pk])
        vip.delete()
        assert numbers(filters) == []
        assert matching(billing_company=999_999) == []


# --- reading and writing filters --------------------------------------------------------


def test_query_round_trip() -> None:
    filters = SelectionFilters(
        language="de",
        billing_company=3,
        responsible=7,
        kind="person",
        legal_form="GmbH",
        invoice_channel="paper",
        has_email=True,
        text="Émile & fils",
        tags=[9, 2, 9],
    )
    assert filters.tags == [2, 9]
    query = filters.as_query()
    assert query.startswith("sel-")
    assert SelectionFilters.from_query(query) == filters
    assert SelectionFilters.from_dict(filters.as_dict()) == filters
    assert SelectionFilters().as_query() == ""
    assert SelectionFilters().is_empty
    assert not filters.is_empty


@pytest.mark.parametrize(
    "query",
    [
        "sel-tags=abc&sel-tags=&sel-tags=-1&sel-tags=1.5&sel-tags=²",
        "sel-billing_company=abc&sel-responsible=99999999999999999999999",
        "sel-language=xx&sel-kind=<script>&sel-has_email=peut-être",
        "sel-text=%00%00&sel-legal_form=%zz",
        "%" * 50,
        "sel-tags=" + "&sel-tags=".join(str(n) for n in range(3000)),
    ],
)
def test_garbage_is_ignored(query: str) -> None:
    filters = SelectionFilters.from_query(query)
    assert filters.language == "" and filters.kind == ""
    assert filters.billing_company is None and filters.responsible is None
    assert filters.has_email is None
    assert "\x00" not in filters.text
    assert len(filters.tags) <= 50


@given(st.dictionaries(st.text(max_size=20), st.lists(st.text(max_size=30), max_size=3)))
def test_from_query_never_raises(data: dict[str, list[str]]) -> None:
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    for key, values in data.items():
        query.setlist(key, values)
        query.setlist("sel-" + key, values)
    filters = SelectionFilters.from_query(query)
    assert SelectionFilters.from_query(filters.as_query()) == filters


def test_from_dict_never_raises_on_what_a_json_column_may_hold() -> None:
    samples: list[Any] = [None, [], "x", {"tags": "1,2"}, {"tags": [True, "3", None, {}]}]
    for data in [*samples, {"language": 5}]:
        SelectionFilters.from_dict(data)
    assert SelectionFilters.from_dict({"tags": [True, "3", None, {}]}).tags == [3]


# --- the builder page -------------------------------------------------------------------


@pytest.mark.django_db
def test_builder_counts_and_lists_those_without_an_address_apart(
    client: Browser, anne: Collaborator
) -> None:
    make_client("C1", name="Bakkerij Peeters", emails=("info@peeters.be",))
    make_client("C2", name="Slagerij Janssens", emails=("info@janssens.be",))
    make_client("C3", name="Frituur Zonder Mail")
    make_client("C4", name="Café Français", language="fr", emails=("cafe@fr.be",))
    make_client("C5", name="Oud Klant", active=False)
    response = client.get(SELECTION, {"sel-language": "nl"}, headers=RESULTS)
    assert response.status_code == 200
    html = response.content.decode()
    page = text_of(html)
    assert "3 clients correspondent à ces filtres" in page
    assert "2 avec une adresse e-mail" in page
    assert "1 sans adresse e-mail" in page
    without = html.split('id="sel-without-email"')[1].split("</section>")[0]
    assert "Frituur Zonder Mail" in without and "ne recevront rien" in without
    listed = html.split('id="sel-clients"')[1]
    assert "Bakkerij Peeters" in listed and "Slagerij Janssens" in listed
    assert "Frituur Zonder Mail" not in listed
    assert "Café Français" not in html and "Oud Klant" not in html
    # The encoded filters, for the form the builder sits in.
    assert 'name="sel-query" value="sel-language=nl"' in html


@pytest.mark.django_db
def test_builder_lists_fifty_and_says_how_many_more(client: Browser, anne: Collaborator) -> None:
    for number in range(53):
        make_client(f"C{number:03}", name=f"Client {number:03}", emails=(f"c{number}@x.be",))
    preview = selection_preview(filters=SelectionFilters())
    assert (preview.total, preview.with_email, len(preview.clients), preview.more) == (
        53,
        53,
        50,
        3,
    )
    page = text_of(client.get(SELECTION, headers=RESULTS).content.decode())
    assert "53 clients correspondent" in page
    assert "… et 3 autres clients avec une adresse e-mail." in page
    assert "Client 049" in page and "Client 050" not in page


@pytest.mark.django_db
def test_builder_page_standalone_and_embedded(client: Browser, anne: Collaborator) -> None:
    make_client("C1", emails=("a@x.be",))
    Tag.objects.create(name="Horeca")
    page = client.get(SELECTION).content.decode()
    assert '<form id="sel-form"' in page
    assert "Écrire à cette sélection" in page
    # No filter: every active client, asked for as such (the window starts with nobody).
    assert 'href="' + reverse("mailing:compose") + '?sel-all=1"' in page
    for name in ("sel-text", "sel-language", "sel-billing_company", "sel-responsible", "sel-kind"):
        assert f'name="{name}"' in page
    for name in ("sel-legal_form", "sel-invoice_channel", "sel-has_email", "sel-tags"):
        assert f'name="{name}"' in page
    assert "au moins une" in page
    assert "recalculée à chaque utilisation" in page
    # Inside another form: no <form> of its own, no way to leave the window.
    embedded = client.get(SELECTION, {"sel-embedded": "1"}, headers=BUILDER).content.decode()
    assert "<form" not in embedded
    assert "Écrire à cette sélection" not in embedded
    assert 'name="sel-embedded" value="1"' in embedded
    assert "<html" not in embedded


@pytest.mark.django_db
def test_compose_link_carries_the_filters(client: Browser, anne: Collaborator) -> None:
    make_client("C1", language="nl", emails=("a@x.be",))
    page = client.get(SELECTION, {"sel-language": "nl", "sel-text": "é"}).content.decode()
    compose = reverse("mailing:compose")
    assert f'href="{compose}?sel-language=nl&amp;sel-text=%C3%A9"' in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "sel-tags=abc&sel-billing_company=x&sel-responsible=-3&sel-has_email=2",
        "sel-tags=99999999999999999999999999&sel-language=zz",
        "sel-text=%00&sel-legal_form=%00",
        "sel-selection=abc&sel-load=",
        "page=-1&sel-kind[]=1",
    ],
)
def test_garbage_query_is_not_a_server_error(
    client: Browser, anne: Collaborator, query: str
) -> None:
    make_client("C1", emails=("a@x.be",))
    response = client.get(f"{SELECTION}?{query}")
    assert response.status_code == 200
    assert "client correspond" in text_of(response.content.decode())


@pytest.mark.django_db
def test_unknown_saved_selection_is_a_404(client: Browser, anne: Collaborator) -> None:
    assert client.get(SELECTION, {"selection": "abc"}).status_code == 404
    assert client.get(SELECTION, {"selection": "424242"}).status_code == 404


def test_builder_needs_a_login(client: Browser) -> None:
    response = client.get(SELECTION)
    assert response.status_code == 302 and "/connexion/" in response["Location"]


# --- saved selections -------------------------------------------------------------------


@pytest.mark.django_db
def test_save_a_selection_then_load_it(client: Browser, anne: Collaborator) -> None:
    vip = Tag.objects.create(name="VIP")
    make_client("C1", language="nl", emails=("a@x.be",)).tags.add(vip)
    make_client("C2", language="fr", emails=("b@x.be",)).tags.add(vip)
    filters = SelectionFilters(language="nl", tags=[vip.pk])
    response = client.post(
        SAVE, {"sel-query": filters.as_query(), "sel-save-name": "  VIP  néerlandophones "}
    )
    saved = ClientSelection.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{SELECTION}?selection={saved.pk}"
    assert (saved.name, saved.owner, saved.shared) == ("VIP néerlandophones", anne, False)
    assert SelectionFilters.from_dict(saved.filters) == filters

    page = client.get(response["Location"]).content.decode()
    assert "Sélection enregistrée « VIP néerlandophones »" in text_of(page)
    assert "1 client correspond" in text_of(page)
    assert f'href="{reverse("mailing:compose")}?selection={saved.pk}"' in page

    # The same name again (other case) replaces its filters.
    client.post(SAVE, {"sel-query": "sel-language=fr", "sel-save-name": "vip NÉERLANDOPHONES"})
    saved.refresh_from_db()
    assert ClientSelection.objects.count() == 1
    assert SelectionFilters.from_dict(saved.filters) == SelectionFilters(language="fr")


@pytest.mark.django_db
def test_save_from_the_builder_with_htmx(client: Browser, anne: Collaborator) -> None:
    make_client("C1", language="de", emails=("a@x.be",))
    response = client.post(
        SAVE,
        {"sel-query": "sel-language=de", "sel-save-name": "Germanophones", "sel-embedded": "1"},
        headers=BUILDER,
    )
    page = text_of(response.content.decode())
    assert response.status_code == 200
    assert "La sélection « Germanophones » a été enregistrée." in page
    assert 'id="sel-builder"' in response.content.decode()
    assert "<form" not in response.content.decode()  # still embedded


@pytest.mark.django_db
def test_a_loaded_selection_that_is_changed_says_so(client: Browser, anne: Collaborator) -> None:
    saved = ClientSelection.objects.create(
        name="NL", owner=anne, filters=SelectionFilters(language="nl").as_dict()
    )
    same = client.get(
        SELECTION, {"sel-selection": str(saved.pk), "sel-language": "nl"}, headers=RESULTS
    ).content.decode()
    assert "Sélection enregistrée « NL »" in text_of(same)
    changed = client.get(
        SELECTION, {"sel-selection": str(saved.pk), "sel-language": "fr"}, headers=RESULTS
    ).content.decode()
    assert "filtres modifiés" in text_of(changed)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_bad_name_is_said_on_the_form(client: Browser, anne: Collaborator, name: str) -> None:
    response = client.post(SAVE, {"sel-query": "sel-language=nl", "sel-save-name": name})
    assert response.status_code == 400
    assert ClientSelection.objects.count() == 0
    assert 'class="errorlist' in response.content.decode()
    htmx = client.post(
        SAVE, {"sel-query": "sel-language=nl", "sel-save-name": name}, headers=BUILDER
    )
    assert htmx.status_code == 200 and 'class="errorlist' in htmx.content.decode()


@pytest.mark.django_db
def test_shared_selections_are_visible_to_all_private_ones_are_not(
    client: Browser, anne: Collaborator
) -> None:
    luc = make_collaborator("luc@fidu.be", first_name="Luc", last_name="Peeters")
    shared = ClientSelection.objects.create(name="Horeca (Luc)", owner=luc, shared=True)
    private = ClientSelection.objects.create(name="Brouillon de Luc", owner=luc)
    mine = ClientSelection.objects.create(name="Mes clients", owner=anne)
    page = client.get(SELECTIONS).content.decode()
    assert "Horeca (Luc)" in page and "Mes clients" in page
    assert "Brouillon de Luc" not in page
    assert client.get(SELECTION, {"selection": shared.pk}).status_code == 200
    assert client.get(SELECTION, {"selection": private.pk}).status_code == 404
    # Sharing is the owner's decision.
    assert client.post(reverse("clients:selection_share", args=[shared.pk])).status_code == 403
    client.post(reverse("clients:selection_share", args=[mine.pk]), {"shared": "1"})
    mine.refresh_from_db()
    assert mine.shared
    client.force_login(luc)
    assert "Mes clients" in client.get(SELECTIONS).content.decode()


@pytest.mark.django_db
def test_only_the_owner_deletes_a_selection(client: Browser, anne: Collaborator) -> None:
    luc = make_collaborator("luc@fidu.be")
    his = ClientSelection.objects.create(name="Horeca", owner=luc, shared=True)
    mine = ClientSelection.objects.create(name="Mes clients", owner=anne)
    page = client.get(SELECTIONS).content.decode()
    assert reverse("clients:selection_delete", args=[mine.pk]) in page
    assert reverse("clients:selection_delete", args=[his.pk]) not in page

    response = client.post(reverse("clients:selection_delete", args=[his.pk]))
    assert response.status_code == 403
    assert ClientSelection.objects.filter(pk=his.pk).exists()
    response = client.post(reverse("clients:selection_delete", args=[mine.pk]), follow=True)
    assert "La sélection « Mes clients » a été supprimée." in text_of(response.content.decode())
    assert not ClientSelection.objects.filter(pk=mine.pk).exists()
    # Someone else's private selection does not even exist for her.
    private = ClientSelection.objects.create(name="Privée", owner=luc)
    assert client.post(reverse("clients:selection_delete", args=[private.pk])).status_code == 404


@pytest.mark.django_db
def test_an_administrator_may_remove_a_shared_selection(client: Browser) -> None:
    luc = make_collaborator("luc@fidu.be")
    shared = ClientSelection.objects.create(name="Horeca", owner=luc, shared=True)
    client.force_login(make_admin())
    client.post(reverse("clients:selection_delete", args=[shared.pk]))
    assert not ClientSelection.objects.exists()


@pytest.mark.django_db
def test_a_saved_selection_is_re_evaluated_when_used(client: Browser, anne: Collaborator) -> None:
    peeters = make_client("C1", name="Bakkerij Peeters", language="nl", emails=("a@x.be",))
    make_client("C2", name="Slagerij Janssens", language="nl", emails=("b@x.be",))
    saved = ClientSelection.objects.create(
        name="Néerlandophones", owner=anne, filters=SelectionFilters(language="nl").as_dict()
    )
    filters = SelectionFilters.from_dict(saved.filters)
    assert numbers(filters) == ["C1", "C2"]

    peeters.language = "fr"
    peeters.save()
    make_client("C3", name="Brouwerij Nieuw", language="nl", emails=("c@x.be",))

    assert numbers(SelectionFilters.from_dict(saved.filters)) == ["C3", "C2"]
    page = text_of(client.get(SELECTION, {"selection": saved.pk}).content.decode())
    assert "Bakkerij Peeters" not in page and "Brouwerij Nieuw" in page
    listing = text_of(client.get(SELECTIONS).content.decode())
    assert "Langue : néerlandais" in listing
