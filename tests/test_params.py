"""A "next" address and an id written by hand: the page answers with its default or a 404, never
a 500, and a mail already queued is never followed by an error page."""

from __future__ import annotations

import pytest
from django.test import Client as Browser
from django.test import RequestFactory
from django.urls import reverse

from courrier.clients.models import Client
from courrier.mailing.models import OutboundMessage
from courrier.params import MAX_ID, id_from, next_url
from tests.mailing.test_compose_window import (  # noqa: F401 (fixtures)
    COMPOSE,
    anne,
    browser,
    firm,
    one_client_data,
    peeters,
)


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("/clients/?page=2", "/clients/?page=2"),
        ("x", "/fallback/"),
        ("clients:list", "/fallback/"),
        ("https://evil.example/", "/fallback/"),
        ("//evil.example/", "/fallback/"),
        ("/\\evil.example/", "/fallback/"),
        ("javascript:alert(1)", "/fallback/"),
        ("", "/fallback/"),
        (None, "/fallback/"),
        ("/" + "a" * 3000, "/fallback/"),
    ],
)
def test_next_is_a_path_of_this_site_or_the_pages_default(
    candidate: str | None, expected: str
) -> None:
    request = RequestFactory().get("/")
    assert next_url(request, candidate, fallback="/fallback/") == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", 12),
        (" 7 ", 7),
        ("0", None),
        ("-3", None),
        ("²", None),
        ("٣", None),
        ("1e3", None),
        ("99999999999999999999", None),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),
        (None, None),
    ],
)
def test_an_id_is_plain_digits_a_column_can_hold(raw: str | None, expected: int | None) -> None:
    assert id_from(raw) == expected


def test_the_compose_window_sends_then_goes_to_the_client_file_when_next_is_not_a_path(
    browser: Browser,  # noqa: F811
    peeters: Client,  # noqa: F811
) -> None:
    response = browser.post(
        f"{COMPOSE}?client={peeters.pk}&next=x", one_client_data(peeters, send="1")
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("clients:detail", args=[peeters.pk]))
    assert OutboundMessage.objects.filter(client=peeters).count() == 1


def test_the_tax_list_mail_button_goes_back_to_its_list_when_next_is_a_word(
    browser: Browser,  # noqa: F811
) -> None:
    response = browser.get(reverse("taxes:mail", args=["tva"]), {"next": "x"})
    assert response.status_code == 302
    assert response["Location"] == reverse("taxes:list", args=["tva"])


BIG = "99999999999999999999"


def test_a_tag_id_too_large_for_the_database_is_refused_on_the_client_form(
    browser: Browser,  # noqa: F811
) -> None:
    from tests.clients.test_pages import form_data

    response = browser.post(reverse("clients:create"), {**form_data(), "tags": [BIG]})
    assert response.status_code == 200
    assert "99999999999999999999" in response.content.decode()
    assert not Client.objects.filter(number="C0100").exists()


def test_unicode_digits_in_the_compose_window_are_ignored_not_a_failure(
    browser: Browser,  # noqa: F811
    peeters: Client,  # noqa: F811
) -> None:
    data = one_client_data(peeters, uploads=["²"], check="1")
    assert browser.post(f"{COMPOSE}?client={peeters.pk}", data).status_code == 200
    preview = browser.post(f"{reverse('mailing:preview')}?i=²", one_client_data(peeters))
    assert preview.status_code == 200
    assert OutboundMessage.objects.count() == 0


def test_removing_an_invoice_line_numbered_in_unicode_digits_keeps_the_lines(
    browser: Browser,  # noqa: F811
) -> None:
    from tests.firm.factories import make_company

    make_company()
    response = browser.post(
        reverse("billing:invoice_lines", args=["FIDU"]),
        {"lines-TOTAL_FORMS": "1", "lines-0-description": "Tenue", "lines-action": "remove-²"},
    )
    assert response.status_code == 200
    assert "Tenue" in response.content.decode()
