"""The selection builder in a real browser: the count follows the filters as they change, and a
selection is saved and loaded without leaving the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from courrier.clients.models import ClientSelection, Tag
from courrier.clients.selectors import SelectionFilters
from tests.clients.factories import make_client
from tests.firm.test_browser import CHROMIUM, context  # noqa: F401 (fixture used by name)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]


def settled(page: Page) -> None:
    """Wait until htmx has finished swapping and wired the new elements: a person is never
    faster than htmx's settle delay, a test driving the page is."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    page.wait_for_timeout(50)


def _clients() -> Tag:
    horeca = Tag.objects.create(name="Horeca", colour="orange")
    make_client("C1", name="Bakkerij Peeters", language="nl", emails=("info@peeters.be",))
    make_client("C2", name="Frituur Janssens", language="nl").tags.add(horeca)
    make_client("C3", name="Café Émile", language="fr", emails=("cafe@emile.be",)).tags.add(horeca)
    return horeca


def test_the_count_follows_the_filters(context: BrowserContext) -> None:  # noqa: F811
    _clients()
    page = context.new_page()
    page.goto("/clients/selection/")
    count = page.locator(".sel-count")
    expect(count).to_contain_text("3 clients correspondent")
    expect(count).to_contain_text("1 sans adresse e-mail")
    expect(page.locator("#sel-without-email")).to_contain_text("Frituur Janssens")

    page.get_by_label("Langue").select_option("nl")
    expect(count).to_contain_text("2 clients correspondent")
    write = page.get_by_role("link", name="Écrire à cette sélection")
    expect(write).to_have_attribute("href", "/courrier/ecrire/?sel-language=nl")

    page.get_by_label("Horeca").check()
    expect(count).to_contain_text("1 client correspond")
    expect(page.locator("#sel-without-email")).to_contain_text("Frituur Janssens")
    expect(page.get_by_role("link", name="Écrire à cette sélection")).to_have_count(0)

    page.get_by_label("Langue").select_option("")
    page.get_by_label("Texte").fill("emile")  # typed without the accent
    expect(count).to_contain_text("1 client correspond")
    expect(page.locator("#sel-clients")).to_contain_text("Café Émile")
    # Typing did not reload the page: the field keeps what was typed.
    expect(page.get_by_label("Texte")).to_have_value("emile")


@pytest.mark.parametrize("embedded", [False, True], ids=["page", "embedded"])
def test_save_then_load_a_selection(context: BrowserContext, embedded: bool) -> None:  # noqa: F811
    horeca = _clients()
    page = context.new_page()
    page.goto("/clients/selection/" + ("?sel-embedded=1" if embedded else ""))
    # The compose window counts its recipients, and starts with nobody before any filter.
    two = "2 destinataires" if embedded else "2 clients correspondent"
    everyone = "Aucun destinataire pour l'instant" if embedded else "3 clients correspondent"
    page.get_by_label("Horeca").check()
    expect(page.locator(".sel-count")).to_contain_text(two)
    page.get_by_label("Nom de la sélection").fill("Horeca")
    page.get_by_role("button", name="Enregistrer la sélection").click()
    expect(page.locator("#sel-results")).to_contain_text(
        "La sélection « Horeca » a été enregistrée."
    )
    saved = ClientSelection.objects.get()
    assert SelectionFilters.from_dict(saved.filters) == SelectionFilters(tags=[horeca.pk])
    # The builder came back with the saved selection chosen in the list.
    expect(page.get_by_label("Sélection enregistrée")).to_have_value(str(saved.pk))
    settled(page)

    page.get_by_label("Sélection enregistrée").select_option(label="— nouvelle sélection —")
    expect(page.locator(".sel-count")).to_contain_text(everyone)
    expect(page.get_by_label("Horeca")).not_to_be_checked()
    settled(page)
    page.get_by_label("Sélection enregistrée").select_option(label="Horeca")
    expect(page.get_by_label("Horeca")).to_be_checked()
    expect(page.locator(".sel-count")).to_contain_text(two)
    expect(page.locator("#sel-results")).to_contain_text("Sélection enregistrée « Horeca »")
    if embedded:
        expect(page.locator("#sel-builder form")).to_have_count(0)
