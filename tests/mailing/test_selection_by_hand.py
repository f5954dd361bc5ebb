"""A selection adjusted by hand in the compose window: a client of the computed list unticked,
another added by name or number, and the check and the send taking exactly that list; and a
window opened without a client, which starts with no recipient.

What is checked is what the collaborator and the clients see: the window's list, the pre-send
check's rows, and the mails that reached the SMTP server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import Collaborator, Firm
from courrier.mailing import services
from courrier.mailing.models import MailBatch, OutboundMessage, SendingProfile
from tests.fakes.smtp import FakeSMTPServer

COMPOSE = reverse("mailing:compose")
PREVIEW = reverse("mailing:preview")
PRESEND = reverse("mailing:presend")
SELECTION = reverse("clients:selection")
HTMX = {"HX-Request": "true"}


def text_of(response: Any) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def new_client(number: str, name: str, language: str, *emails: str, **extra: Any) -> Client:
    client = Client.objects.create(
        number=number, name=name, language=language, legal_form="SRL", **extra
    )
    for position, address in enumerate(emails):
        ClientEmail.objects.create(client=client, address=address, position=position)
    return client


@pytest.fixture
def anne(db: None, smtp_server: FakeSMTPServer) -> Collaborator:
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Martin"})
    anne = Collaborator.objects.create_user(
        "anne@fidu.be", "pw-anne-1234", first_name="Anne", last_name="Martin"
    )
    SendingProfile.objects.create(
        collaborator=anne,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=SendingProfile.Security.NONE,
        from_name="Anne Martin",
        from_address="anne@fidu.be",
    )
    return anne


@pytest.fixture
def browser(anne: Collaborator) -> Browser:
    browser = Browser()
    browser.force_login(anne)
    return browser


@pytest.fixture
def clients(db: None) -> dict[str, Client]:
    return {
        "peeters": new_client("C0101", "Bakkerij Peeters", "nl", "jan@peeters.be"),
        "wouters": new_client("C0102", "Brouwerij Wouters", "nl", "info@wouters.be"),
        "dupont": new_client("C0103", "Boulangerie Dupont", "fr", "marie@dupont.be"),
        "schmitz": new_client("C0104", "Bäckerei Schmitz", "de", "karl@schmitz.de"),
        "gone": new_client("C0105", "Brasserie Fermée", "fr", "x@fermee.be", active=False),
    }


def window_data(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "recipients": "selection",
        "language": "nl",
        "subject": "Nieuws voor {NOMCLIENT}",
        "body": "Beste klant,\n\nUw dossier {NUMCLIENT} is bijgewerkt.",
        "archive": "on",
        "idempotency_key": "key-by-hand",
    }
    data.update(extra)
    return data


def adjusted(clients: dict[str, Client], **extra: Any) -> dict[str, Any]:
    """The Dutch-speaking clients, Wouters unticked, Dupont added by hand (French-speaking: the
    Dutch text reaches him only because the window allows another language)."""
    listed = f"{clients['peeters'].pk},{clients['wouters'].pk}"
    return window_data(
        **{
            "sel-language": "nl",
            "sel-listed": listed,
            "sel-keep": [str(clients["peeters"].pk)],
            "sel-add-client": str(clients["dupont"].pk),
            "other_language": "on",
        },
        **extra,
    )


def test_the_window_without_a_client_starts_with_no_recipient(
    browser: Browser, clients: dict[str, Client]
) -> None:
    window = browser.get(COMPOSE)

    page = text_of(window)
    assert "Aucun destinataire pour l'instant" in page
    for client in clients.values():
        assert client.display_name not in page
    assert 'id="sel-clients"' not in window.content.decode()
    # Checking, previewing or sending it queues nothing and says why.
    check = browser.post(PRESEND, window_data(), headers=HTMX)
    preview = browser.post(PREVIEW, window_data(), headers=HTMX)
    send = browser.post(COMPOSE, {**window_data(), "send": "1"})
    for response in (check, preview, send):
        assert response.status_code == 200
        assert "Aucun destinataire" in text_of(response)
    assert MailBatch.objects.count() == 0 and OutboundMessage.objects.count() == 0


def test_every_active_client_is_a_choice_of_its_own(
    browser: Browser, clients: dict[str, Client]
) -> None:
    response = browser.get(SELECTION, {"sel-embedded": "1", "sel-all": "1"}, headers=HTMX)

    page = text_of(response)
    assert "4 destinataires" in page  # the closed brasserie is not active
    assert "Brasserie Fermée" not in page
    assert "Bäckerei Schmitz" in page


def test_unticked_and_added_clients_are_shown_as_such(
    browser: Browser, clients: dict[str, Client]
) -> None:
    query = adjusted(clients, **{"sel-embedded": "1"})

    response = browser.get(SELECTION, query, headers={**HTMX, "HX-Target": "sel-results"})

    html = unescape(response.content.decode())
    page = text_of(response)
    assert "2 destinataires" in page
    wouters = re.search(r'<tr data-client="C0102" data-kept="false">(.*?)</tr>', html, re.S)
    assert wouters is not None and "ne recevra rien" in wouters.group(1)
    assert 'name="sel-keep" value="{}" checked'.format(clients["wouters"].pk) not in html
    dupont = re.search(r'<tr data-client="C0103" data-kept="true">(.*?)</tr>', html, re.S)
    assert dupont is not None and "ajouté à la main" in dupont.group(1)
    # What was changed by hand travels on with the next request.
    assert f'name="sel-remove" value="{clients["wouters"].pk}"' in html
    assert f'name="sel-add" value="{clients["dupont"].pk}"' in html


def test_a_client_is_found_by_name_or_number_to_be_added(
    browser: Browser, clients: dict[str, Client]
) -> None:
    query = {"sel-embedded": "1", "sel-language": "nl"}
    headers = {**HTMX, "HX-Target": "sel-found"}

    by_name = text_of(browser.get(SELECTION, {**query, "sel-find": "dupont"}, headers=headers))
    by_number = browser.get(SELECTION, {**query, "sel-find": "c0101"}, headers=headers)
    nothing = text_of(browser.get(SELECTION, {**query, "sel-find": "fermée"}, headers=headers))

    assert "Boulangerie Dupont" in by_name and "Ajouter" in by_name
    assert "Bakkerij Peeters" in text_of(by_number)
    assert "déjà dans la liste" in text_of(by_number)  # the filters chose it already
    assert "Aucun client actif ne correspond" in nothing


def test_the_check_and_the_send_take_exactly_the_adjusted_list(
    browser: Browser, anne: Collaborator, clients: dict[str, Client], smtp_server: FakeSMTPServer
) -> None:
    check = browser.post(PRESEND, adjusted(clients), headers=HTMX)
    page = text_of(check)
    assert "2 prêts, 0 bloqué" in page
    assert "Bakkerij Peeters" in page and "Boulangerie Dupont" in page
    assert "Brouwerij Wouters" not in page

    response = browser.post(COMPOSE, {**adjusted(clients), "send": "1"})

    batch = MailBatch.objects.get()
    assert response["Location"] == reverse("mailing:batch_progress", args=[batch.pk])
    assert sorted(batch.client_ids) == sorted([clients["peeters"].pk, clients["dupont"].pk])
    services.batch_compose(batch_id=batch.pk)
    services.messages_deliver(profile_id=anne.sending_profile.pk)
    arrived = sorted(tuple(mail.rcpt_tos) for mail in smtp_server.messages)
    assert arrived == [("jan@peeters.be",), ("marie@dupont.be",)]
    subjects = sorted(str(mail.message["Subject"]) for mail in smtp_server.messages)
    assert subjects == ["Nieuws voor Bakkerij Peeters SRL", "Nieuws voor Boulangerie Dupont SRL"]


def test_a_client_unticked_then_ticked_again_receives_the_mail(
    browser: Browser, clients: dict[str, Client]
) -> None:
    wouters = clients["wouters"].pk
    data = window_data(
        **{
            "sel-language": "nl",
            "sel-remove": str(wouters),  # unticked before
            "sel-listed": f"{clients['peeters'].pk},{wouters}",
            "sel-keep": [str(clients["peeters"].pk), str(wouters)],  # ticked again
        }
    )

    page = text_of(browser.post(PRESEND, data, headers=HTMX))

    assert "2 prêts" in page and "Brouwerij Wouters" in page


def test_the_search_without_the_script_only_shows_the_window_again(
    browser: Browser, clients: dict[str, Client]
) -> None:
    response = browser.post(
        COMPOSE, window_data(**{"sel-language": "nl", "sel-find": "dupont", "sel-refresh": "1"})
    )

    assert response.status_code == 200
    assert "Boulangerie Dupont" in text_of(response)
    assert MailBatch.objects.count() == 0


@pytest.mark.parametrize(
    "garbage",
    [
        {"sel-add": "abc,-1,99999999999999999999", "sel-remove": "x"},
        {"sel-keep": ["²", ""], "sel-listed": ",,,", "sel-add-client": "%00"},
        {"sel-all": "peut-être", "sel-find": "\x00" * 3},
    ],
)
def test_garbage_in_the_hand_made_changes_is_ignored(
    browser: Browser, clients: dict[str, Client], garbage: dict[str, Any]
) -> None:
    query = {"sel-embedded": "1", "sel-language": "nl", **garbage}

    builder = browser.get(SELECTION, query, headers=HTMX)
    check = browser.post(
        PRESEND, {**window_data(**{"sel-language": "nl"}), **garbage}, headers=HTMX
    )

    assert builder.status_code == 200 and check.status_code == 200
    assert "2 prêts" in text_of(check)


def test_clients_added_by_hand_are_a_selection_of_their_own(
    browser: Browser,
    clients: dict[str, Client],
    make_client: Callable[..., Client],
) -> None:
    # Schmitz reads German: the Dutch text goes to him as the window allows another language.
    data = window_data(
        **{"sel-add": f"{clients['schmitz'].pk},{clients['gone'].pk}", "other_language": "on"}
    )

    page = text_of(browser.post(PRESEND, data, headers=HTMX))

    # No filter: only the client added; an inactive one is never written to.
    assert "1 prêt" in page and "Bäckerei Schmitz" in page
    assert "Brasserie Fermée" not in page
