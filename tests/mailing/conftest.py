"""The IMAP servers and the profile that asks for a copy in its Sent folder, shared by the tests
of the IMAP client (`transports/test_imap.py`) and of the copy (`test_sent_copy.py`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from courrier.mailing.models import SendingProfile
from tests.fakes.imap import (
    FOLDERS,
    Dovecot,
    FakeIMAPServer,
    IMAPAccount,
    account_of,
    dovecot_binary,
)
from tests.fakes.smtp import FakeSMTPServer


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    if dovecot_binary() is None:
        pytest.skip(
            "Dovecot is not installed (apt-get install -y dovecot-imapd): the same cases run "
            "against the fake IMAP server"
        )
    with Dovecot() as server:
        yield server


@pytest.fixture
def fake_imap() -> Iterator[FakeIMAPServer]:
    with FakeIMAPServer(folders=dict(FOLDERS)) as server:
        yield server


@pytest.fixture(params=["fake", "dovecot"])
def account(request: pytest.FixtureRequest) -> IMAPAccount:
    """The same mailbox on the fake server and on Dovecot: INBOX, "Sent Items" (\\Sent),
    Drafts, "Éléments envoyés"."""
    server = request.getfixturevalue("fake_imap" if request.param == "fake" else "dovecot")
    return account_of(server)


@pytest.fixture
def make_imap_profile(
    smtp_server: FakeSMTPServer, make_profile: Callable[..., SendingProfile]
) -> Callable[..., SendingProfile]:
    def make(account: IMAPAccount | None = None, **fields: Any) -> SendingProfile:
        values: dict[str, Any] = {"imap_enabled": True, "imap_sent_folder": "Sent Items"}
        if account is not None:
            values.update(
                imap_host=account.host,
                imap_port=account.port,
                imap_security=account.security,
                imap_username=account.user,
                imap_password=account.password,
            )
        values.update(fields)
        return make_profile(server=smtp_server, from_address="anne@fidu.test", **values)

    return make
