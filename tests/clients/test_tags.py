"""Tags: put on a client from its form, shown and filtered in the client list, managed on their
own page."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import Tag
from courrier.firm.models import Collaborator
from tests.clients.factories import make_client
from tests.clients.test_pages import form_data
from tests.firm.factories import make_admin, make_collaborator

pytestmark = pytest.mark.django_db

LIST = reverse("clients:list")
TAGS = reverse("clients:tags")


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.fixture
def anne(client: Browser) -> Collaborator:
    person = make_collaborator()
    client.force_login(person)
    return person


def edit_data(record: Any, **overrides: Any) -> dict[str, Any]:
    data = form_data(
        number=record.number, name=record.name, language=record.language, enterprise_number=""
    )
    data.update(overrides)
    return data


def test_tags_are_chosen_and_created_from_the_client_form(
    client: Browser, anne: Collaborator
) -> None:
    vip = Tag.objects.create(name="VIP", colour="red")
    Tag.objects.create(name="Horeca")
    record = make_client("C0100", name="Boulangerie Émile")
    page = client.get(reverse("clients:edit", args=[record.pk])).content.decode()
    assert 'name="tags"' in page and "VIP" in page and 'name="new_tags"' in page

    response = client.post(
        reverse("clients:edit", args=[record.pk]),
        edit_data(record, tags=[str(vip.pk)], new_tags="Gros client, vip ,  Nouveau   client"),
    )
    assert response.status_code == 302
    # "vip" is the existing tag; the two new ones are created once.
    assert sorted(tag.name for tag in record.tags.all()) == ["Gros client", "Nouveau client", "VIP"]
    assert Tag.objects.count() == 4
    detail = client.get(reverse("clients:detail", args=[record.pk])).content.decode()
    assert "Gros client" in detail and f"badge-tag tag-{vip.colour}" in detail

    # Unticking removes the tag from the client, not from the firm.
    client.post(reverse("clients:edit", args=[record.pk]), edit_data(record))
    assert record.tags.count() == 0
    assert Tag.objects.filter(name="VIP").exists()


def test_a_new_tag_too_long_is_said_on_the_form(client: Browser, anne: Collaborator) -> None:
    record = make_client("C0100")
    response = client.post(
        reverse("clients:edit", args=[record.pk]), edit_data(record, new_tags="x" * 41)
    )
    assert response.status_code == 200
    assert "trop long pour une étiquette" in response.content.decode()
    assert not Tag.objects.exists()


def test_an_unknown_tag_id_is_a_form_error_not_a_crash(client: Browser, anne: Collaborator) -> None:
    record = make_client("C0100")
    response = client.post(
        reverse("clients:edit", args=[record.pk]), edit_data(record, tags=["9999", "abc"])
    )
    assert response.status_code == 200
    assert record.tags.count() == 0


def test_the_client_list_shows_tags_and_filters_by_one(client: Browser, anne: Collaborator) -> None:
    vip = Tag.objects.create(name="VIP")
    make_client("C1", name="Bakkerij Peeters").tags.add(vip)
    make_client("C2", name="Slagerij Janssens")
    page = text_of(client.get(LIST, {"tag": vip.pk}).content.decode())
    assert "Bakkerij Peeters" in page and "Slagerij Janssens" not in page
    everyone = client.get(LIST).content.decode()
    assert "Slagerij Janssens" in everyone and f"?tag={vip.pk}" in everyone
    # A tag that is not one lists everyone, and says nothing odd.
    for garbage in ("abc", "-1", "99999999999999999999999", "424242"):
        response = client.get(LIST, {"tag": garbage})
        assert response.status_code == 200
        assert "Slagerij Janssens" in response.content.decode()
    searched = text_of(client.get(LIST, {"tag": str(vip.pk), "q": "janssens"}).content.decode())
    assert "Aucun client ne correspond" in searched


def test_anyone_creates_a_tag_names_are_unique_whatever_the_case(
    client: Browser, anne: Collaborator
) -> None:
    response = client.post(TAGS, {"name": " Horeca ", "colour": "green"}, follow=True)
    assert "L'étiquette « Horeca » a été créée." in text_of(response.content.decode())
    assert Tag.objects.get().colour == "green"
    response = client.post(TAGS, {"name": "HORECA", "colour": "red"})
    assert response.status_code == 200
    assert "Une étiquette porte déjà ce nom." in response.content.decode()
    assert Tag.objects.count() == 1
    response = client.post(TAGS, {"name": "Autre", "colour": "fuchsia"})
    assert response.status_code == 200 and Tag.objects.count() == 1


def test_only_an_administrator_renames_or_deletes_a_tag(
    client: Browser, anne: Collaborator
) -> None:
    tag = Tag.objects.create(name="Horeca")
    record = make_client("C1")
    record.tags.add(tag)
    assert reverse("clients:tag_edit", args=[tag.pk]) not in client.get(TAGS).content.decode()
    assert client.get(reverse("clients:tag_edit", args=[tag.pk])).status_code == 403
    assert client.post(reverse("clients:tag_delete", args=[tag.pk])).status_code == 403

    client.force_login(make_admin())
    response = client.post(
        reverse("clients:tag_edit", args=[tag.pk]), {"name": "Horeca & cafés", "colour": "teal"}
    )
    assert response.status_code == 302
    tag.refresh_from_db()
    assert (tag.name, tag.colour) == ("Horeca & cafés", "teal")
    client.post(reverse("clients:tag_delete", args=[tag.pk]))
    assert not Tag.objects.exists()
    record.refresh_from_db()
    assert record.pk is not None and record.tags.count() == 0
    assert client.get(reverse("clients:tag_edit", args=[tag.pk])).status_code == 404
