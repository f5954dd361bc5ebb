"""The demo's SMTP catcher keeps every mail it receives, byte for byte."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from courrier.demo.catcher import catcher_start, mailbox_list, mailbox_path, mailbox_read
from tests.fakes.smtp import free_port

RAW = (
    b"From: Anne <anne@fidu.example>\r\n"
    b"To: info@bakkerij-peeters.example\r\n"
    b"Subject: =?utf-8?q?Documenten_voor_uw_boekhouding?=\r\n"
    b"Date: Fri, 27 Nov 2026 10:00:00 +0100\r\n"
    b"Message-ID: <demo-1@fidu.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b"\r\n'
    b"\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Beste heer Peeters,\r\n"
    b"--b\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<p>Beste heer Peeters,</p><script>alert(1)</script>\r\n"
    b"--b--\r\n"
)


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[tuple[Controller, Path]]:
    directory = tmp_path / "demo-mailbox"
    controller = catcher_start(directory=directory, port=free_port())
    yield controller, directory
    controller.stop()


def test_a_received_mail_is_stored_as_it_arrived(catcher: tuple[Controller, Path]) -> None:
    controller, directory = catcher
    with smtplib.SMTP("127.0.0.1", controller.port, timeout=5) as client:
        client.sendmail(
            "anne@fidu.example",
            ["info@bakkerij-peeters.example", "archive@fidu.example"],
            RAW,
        )

    stored = sorted(directory.glob("*.eml"))
    assert len(stored) == 1
    assert stored[0].read_bytes() == RAW
    [mail] = mailbox_list(directory)
    assert mail.subject == "Documenten voor uw boekhouding"
    assert mail.to_header == "info@bakkerij-peeters.example"
    assert mail.envelope_recipients == ["info@bakkerij-peeters.example", "archive@fidu.example"]
    content = mailbox_read(stored[0])
    assert content.text.strip() == "Beste heer Peeters,"
    assert "<script>" in content.html  # kept as received; the page shows it sandboxed


def test_mailbox_lists_newest_first(catcher: tuple[Controller, Path]) -> None:
    controller, directory = catcher
    with smtplib.SMTP("127.0.0.1", controller.port, timeout=5) as client:
        for number in range(3):
            message = RAW.replace(
                b"Subject: =?utf-8?q?Documenten_voor_uw_boekhouding?=", b"Subject: mail %d" % number
            )
            client.sendmail("anne@fidu.example", ["x@client.example"], message)

    assert [mail.subject for mail in mailbox_list(directory)] == ["mail 2", "mail 1", "mail 0"]


def test_only_names_the_catcher_wrote_are_readable(catcher: tuple[Controller, Path]) -> None:
    _controller, directory = catcher
    (directory / "notes.eml").write_bytes(RAW)

    assert mailbox_path(directory, "../../etc/passwd") is None
    assert mailbox_path(directory, "notes.eml") is None
    assert mailbox_list(directory) == []


def test_a_taken_port_is_refused_at_once(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="already in use"):
            catcher_start(directory=tmp_path, port=taken.getsockname()[1])
