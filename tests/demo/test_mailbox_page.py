"""The demo mailbox page: only in the demo, only for a logged-in collaborator."""

from __future__ import annotations

import re
import smtplib
from pathlib import Path

import pytest
from django.conf import LazySettings
from django.test import Client as HttpClient
from django.urls import reverse

from courrier.demo.catcher import catcher_start, mailbox_dir
from courrier.firm.models import Collaborator
from tests.demo.test_catcher import RAW
from tests.fakes.smtp import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def data_dir(settings: LazySettings, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURRIER_DEMO", "1")


@pytest.fixture
def logged_in(client: HttpClient) -> HttpClient:
    user = Collaborator.objects.create_user("anne@fidu.example", "pw-anne-demo")
    client.force_login(user)
    return client


def _catch_one(data_dir: Path) -> str:
    [name] = _catch(data_dir, RAW)
    return name


def _catch(data_dir: Path, *raws: bytes) -> list[str]:
    """Send each mail to a fresh catcher; the names of the stored mails, in sending order."""
    controller = catcher_start(directory=mailbox_dir(data_dir), port=free_port())
    try:
        with smtplib.SMTP("127.0.0.1", controller.port, timeout=5) as smtp:
            for raw in raws:
                smtp.sendmail("anne@fidu.example", ["info@bakkerij-peeters.example"], raw)
    finally:
        controller.stop()
    return sorted(path.name for path in mailbox_dir(data_dir).glob("*.eml"))


def test_outside_the_demo_the_page_does_not_exist(
    logged_in: HttpClient, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COURRIER_DEMO", raising=False)
    assert logged_in.get(reverse("demo:mailbox")).status_code == 404


def test_login_is_required(client: HttpClient, demo: None, data_dir: Path) -> None:
    response = client.get(reverse("demo:mailbox"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_empty_mailbox_says_so(logged_in: HttpClient, demo: None, data_dir: Path) -> None:
    response = logged_in.get(reverse("demo:mailbox"))
    assert response.status_code == 200
    assert "Aucun mail reçu" in response.content.decode()


def test_a_caught_mail_is_listed_and_shown(
    logged_in: HttpClient, demo: None, data_dir: Path
) -> None:
    name = _catch_one(data_dir)

    listing = logged_in.get(reverse("demo:mailbox")).content.decode()
    assert "Documenten voor uw boekhouding" in listing
    assert reverse("demo:mailbox_message", args=[name]) in listing

    page = logged_in.get(reverse("demo:mailbox_message", args=[name])).content.decode()
    assert "Beste heer Peeters," in page
    # The HTML part is shown in a frame with an empty sandbox and a policy of its own that
    # allows no script: its script cannot run.
    assert "<script>alert(1)</script>" not in page
    frame = re.search(r'<iframe[^>]*sandbox=""[^>]*src="([^"]+)"', page)
    assert frame is not None
    shown = logged_in.get(frame.group(1))
    policy = shown["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy and "script" not in policy
    assert "Beste heer Peeters," in shown.content.decode()

    download = logged_in.get(reverse("demo:mailbox_eml", args=[name]))
    assert download["Content-Type"] == "message/rfc822"
    assert b"".join(download.streaming_content) == RAW  # type: ignore[attr-defined]


def test_an_unknown_mail_is_a_404(logged_in: HttpClient, demo: None, data_dir: Path) -> None:
    url = reverse("demo:mailbox_message", args=["20261127T100000.000000-0123456789ab.eml"])
    assert logged_in.get(url).status_code == 404
    assert logged_in.get(reverse("demo:mailbox_message", args=["..%2Fkeys"])).status_code == 404


def _dated(subject: str, date: str) -> bytes:
    return (
        "From: Anne <anne@fidu.example>\r\n"
        "To: info@bakkerij-peeters.example\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {date}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Bonjour,\r\n"
    ).encode()


def test_every_mail_is_dated_in_the_firms_time_zone(
    logged_in: HttpClient, demo: None, data_dir: Path
) -> None:
    """Django writes "-0000" (UTC) in the Date header: the mailbox showed those an hour early
    (two in summer) beside the mails dated "+0100". Each date is Brussels time."""
    names = _catch(
        data_dir,
        _dated("Winter UTC", "Mon, 07 Dec 2026 09:30:00 -0000"),
        _dated("Winter Brussels", "Mon, 07 Dec 2026 10:45:00 +0100"),
        _dated("Summer UTC", "Tue, 07 Jul 2026 08:15:00 -0000"),
        _dated("Summer Brussels", "Tue, 07 Jul 2026 10:20:00 +0200"),
    )
    expected = ["07/12/2026 10:30:00", "07/12/2026 10:45:00", "07/07/2026 10:15:00"]
    expected.append("07/07/2026 10:20:00")

    listing = logged_in.get(reverse("demo:mailbox")).content.decode()
    rows = re.findall(r"<tr\b.*?</tr>", listing, flags=re.S)
    for subject, when in zip(
        ["Winter UTC", "Winter Brussels", "Summer UTC", "Summer Brussels"], expected, strict=True
    ):
        [row] = [row for row in rows if subject in row]
        assert when in row, (subject, row)
    for name, when in zip(names, expected, strict=True):
        page = logged_in.get(reverse("demo:mailbox_message", args=[name])).content.decode()
        assert re.search(rf"<dd>\s*{re.escape(when)}\s*</dd>", page), when
    assert "09:30:00" not in listing and "08:15:00" not in listing
