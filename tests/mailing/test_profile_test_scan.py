"""The connection test is no port scanner: a collaborator tests mail ports only, a few times
in ten minutes, and reads one sentence for every server out of reach; an administrator
tests any port and reads the diagnosis. Real sockets on 127.0.0.1."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse

from courrier.firm.models import Collaborator, Firm
from courrier.mailing.models import ProfileTest, SendingProfile
from tests.fakes.smtp import HOST, FakeSMTPServer, free_port

HTMX = {"HX-Request": "true"}


class HTTPLikeServer:
    """An open port that is not a mail server: answers an HTTP error and closes."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind((HOST, 0))
        self._sock.listen(8)
        self.port = int(self._sock.getsockname()[1])
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def http_port() -> Iterator[HTTPLikeServer]:
    server = HTTPLikeServer()
    yield server
    server.close()


@pytest.fixture
def people(db: None) -> tuple[Collaborator, Collaborator]:
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Martin"})
    anne = Collaborator.objects.create_user("anne@fidu.be", "pw-anne-1234", first_name="Anne")
    admin = Collaborator.objects.create_user(
        "chef@fidu.be", "pw-chef-1234", first_name="Chef", role=Collaborator.Role.ADMIN
    )
    return anne, admin


def answer_of_test(user: Collaborator, owner: Collaborator, port: int, **fields: Any) -> str:
    """The answer `user` reads after testing `owner`'s profile pointed at 127.0.0.1:`port`
    (`fields`: more of the profile's settings; `imap_port` is hidden from the answer too)."""
    SendingProfile.objects.update_or_create(
        collaborator=owner,
        defaults={
            "method": SendingProfile.Method.SMTP,
            "smtp_host": HOST,
            "smtp_port": port,
            "smtp_security": SendingProfile.Security.NONE,
            "smtp_username": "",
            "from_address": owner.email,
            **fields,
        },
    )
    browser = Browser()
    browser.force_login(user)
    data = {} if user == owner else {"collaborator": owner.pk}
    response = browser.post(reverse("mailing:profile_test"), data, headers=HTMX)
    assert response.status_code == 200
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    page = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))
    if "imap_port" in fields:
        page = page.replace(str(fields["imap_port"]), "<imap port>")
    # Only the new answer: the list of past tests below it is the same for everyone.
    return page.replace(str(port), "<port>").split("Derniers tests")[0]


def test_a_collaborator_cannot_tell_closed_open_and_smtp_ports_apart(
    people: tuple[Collaborator, Collaborator],
    http_port: HTTPLikeServer,
    smtp_server: FakeSMTPServer,
) -> None:
    anne, _admin = people
    answers = {
        answer_of_test(anne, anne, port) for port in (free_port(), http_port.port, smtp_server.port)
    }
    [answer] = answers
    assert "n'est pas un port d'envoi de mail (25, 465, 587 ou 2525)" in answer
    # Refused before any connection: nothing reached either server, nothing was logged.
    assert http_port.connections == 0 and smtp_server.messages == []
    assert not ProfileTest.objects.exists()


def test_on_allowed_ports_every_failure_reads_the_same_for_a_collaborator(
    people: tuple[Collaborator, Collaborator], http_port: HTTPLikeServer, settings: Any
) -> None:
    anne, _admin = people
    closed = free_port()
    settings.COURRIER = {**settings.COURRIER, "TEST_PORTS": [closed, http_port.port]}

    refused, not_smtp = (
        answer_of_test(anne, anne, closed),
        answer_of_test(anne, anne, http_port.port),
    )

    assert refused == not_smtp
    assert "Le serveur 127.0.0.1:<port> ne peut pas être joint." in refused
    assert http_port.connections == 1
    tests = ProfileTest.objects.order_by("pk")
    assert [test.success for test in tests] == [False, False]
    assert str(tests[0].detail) == str(tests[1].detail).replace(str(http_port.port), str(closed))


def test_an_administrator_sees_the_diagnosis_on_any_port(
    people: tuple[Collaborator, Collaborator],
    http_port: HTTPLikeServer,
    smtp_server: FakeSMTPServer,
) -> None:
    anne, admin = people

    refused = answer_of_test(admin, anne, free_port())
    not_smtp = answer_of_test(admin, anne, http_port.port)
    accepted = answer_of_test(admin, anne, smtp_server.port)

    assert "refuse" in refused and "ne peut pas être joint" not in refused
    assert "ne peut pas être joint" not in not_smtp and not_smtp != refused
    assert "Le serveur a accepté le message de test" in accepted
    assert len(smtp_server.messages) == 1


def test_a_collaborator_runs_a_few_tests_in_ten_minutes(
    people: tuple[Collaborator, Collaborator], smtp_server: FakeSMTPServer, settings: Any
) -> None:
    anne, admin = people
    settings.COURRIER = {**settings.COURRIER, "TEST_PORTS": [smtp_server.port]}
    for _ in range(5):
        assert "Le serveur a accepté le message de test" in answer_of_test(
            anne, anne, smtp_server.port
        )

    sixth = answer_of_test(anne, anne, smtp_server.port)

    assert "attendez dix minutes" in sixth
    assert len(smtp_server.messages) == 5
    # An administrator is not counted against.
    assert "Le serveur a accepté" in answer_of_test(admin, anne, smtp_server.port)


def test_the_sent_folder_copy_is_held_to_the_same_rules(
    people: tuple[Collaborator, Collaborator],
    http_port: HTTPLikeServer,
    smtp_server: FakeSMTPServer,
    settings: Any,
) -> None:
    anne, admin = people
    imap = {
        "imap_enabled": True,
        "imap_host": HOST,
        "imap_security": SendingProfile.Security.NONE,
        "imap_username": "anne@fidu.be",
        "imap_password": "imap-pw",
    }
    # Not a mailbox port: refused before anything is tried.
    refused = answer_of_test(anne, anne, 587, imap_port=http_port.port, **imap)
    assert "n'est pas un port de boîte mail (143 ou 993)" in refused
    assert http_port.connections == 0

    closed = free_port()
    settings.COURRIER = {
        **settings.COURRIER,
        "TEST_PORTS": [smtp_server.port, closed, http_port.port],
    }
    # The mail itself leaves (its queue id differs): the copy's line is compared.
    answers = [
        answer_of_test(anne, anne, smtp_server.port, imap_port=port, **imap).split("Copie")[1]
        for port in (closed, http_port.port)
    ]
    assert answers[0] == answers[1]
    assert "Le serveur 127.0.0.1:<imap port> ne peut pas être joint." in answers[0]
    # The administrator reads what happened on each port.
    diagnosis = [
        answer_of_test(admin, anne, smtp_server.port, imap_port=port, **imap).split("Copie")[1]
        for port in (closed, http_port.port)
    ]
    assert diagnosis[0] != diagnosis[1]
    assert all("ne peut pas être joint" not in answer for answer in diagnosis)
