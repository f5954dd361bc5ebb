"""Shared fixtures: a real SMTP server on 127.0.0.1, and small factories for the usual rows.

    def test_something(smtp_server, make_profile, make_client):
        profile = make_profile(server=smtp_server)      # a collaborator's SMTP profile
        client = make_client(emails=["info@dupuis.test"])
        ...
        assert smtp_server.messages[0].rcpt_tos == ["info@dupuis.test"]

The factories need the database: they request `db` themselves (a test that wants
`transactional_db` asks for it too, and that one wins).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import translation

from courrier.amounts import forget_amount_format
from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import Collaborator
from courrier.mailing.models import SendingProfile
from tests.fakes.smtp import FakeSMTPServer, TestCA

_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _language_left_as_found() -> Iterator[None]:
    """A page requested through the test client activates its reader's language in this thread
    (the locale middlewares activate it and leave it): each test starts in the default, French."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _cache_emptied() -> Iterator[None]:
    """What the cache counts (refused webhook credentials per address) starts at zero in each
    test: every test client comes from 127.0.0.1."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _amount_format_read_afresh() -> Iterator[None]:
    """Each test reads the firm's amount format from its own database, as a request does."""
    forget_amount_format()
    yield
    forget_amount_format()


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """A certificate authority for the test run; its server certificate is for 127.0.0.1."""
    return TestCA(Path(tmp_path_factory.mktemp("test-ca")))


@pytest.fixture
def smtp_server() -> Iterator[FakeSMTPServer]:
    """A plain SMTP server without login (like an ISP relay), fresh for each test."""
    with FakeSMTPServer() as server:
        yield server


@pytest.fixture
def make_smtp_server() -> Iterator[Callable[..., FakeSMTPServer]]:
    """Start servers with options (auth=, tls=, starttls=, implicit_tls=...); stopped after."""
    started: list[FakeSMTPServer] = []

    def make(**options: Any) -> FakeSMTPServer:
        server = FakeSMTPServer(**options).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def make_collaborator(db: None) -> Callable[..., Collaborator]:
    def make(**fields: Any) -> Collaborator:
        number = next(_numbers)
        fields.setdefault("email", f"collaborateur{number}@fidu.test")
        fields.setdefault("first_name", "Anne")
        fields.setdefault("last_name", "Dupont")
        password = fields.pop("password", "motdepasse-de-test")
        return Collaborator.objects.create_user(password=password, **fields)

    return make


@pytest.fixture
def collaborator(make_collaborator: Callable[..., Collaborator]) -> Collaborator:
    return make_collaborator()


@pytest.fixture
def make_client(db: None) -> Callable[..., Client]:
    """`emails`: addresses, or (address, purpose) pairs; purpose "general" by default."""

    def make(*, emails: list[str | tuple[str, str]] | None = None, **fields: Any) -> Client:
        number = next(_numbers)
        fields.setdefault("number", f"C{number:05d}")
        fields.setdefault("name", "Boulangerie Dupuis")
        fields.setdefault("legal_form", "SRL")
        fields.setdefault("language", "fr")
        client = Client.objects.create(**fields)
        for position, entry in enumerate(
            [f"client{number}@dupuis.test"] if emails is None else emails
        ):
            address, purpose = (
                (entry, ClientEmail.Purpose.GENERAL) if isinstance(entry, str) else entry
            )
            ClientEmail.objects.create(
                client=client, address=address, purpose=purpose, position=position
            )
        return client

    return make


@pytest.fixture
def make_profile(
    db: None, make_collaborator: Callable[..., Collaborator]
) -> Callable[..., SendingProfile]:
    """A collaborator's SMTP profile, pointed at `server` (its login and TLS mode) when given."""

    def make(
        *,
        server: FakeSMTPServer | None = None,
        collaborator: Collaborator | None = None,
        **fields: Any,
    ) -> SendingProfile:
        if collaborator is None and fields.get("billing_company") is None:
            collaborator = make_collaborator()
        values: dict[str, Any] = {
            "collaborator": collaborator,
            "method": SendingProfile.Method.SMTP,
            "smtp_host": "127.0.0.1",
            "smtp_port": 2525,
            "smtp_security": SendingProfile.Security.NONE,
            "from_name": str(collaborator) if collaborator else "Fiduciaire Test",
            "from_address": collaborator.email if collaborator else "factures@fidu.test",
        }
        if server is not None:
            values["smtp_host"] = server.host
            values["smtp_port"] = server.port
            values["smtp_security"] = server.security
            if server.auth is not None:
                values["smtp_username"], values["smtp_password"] = server.auth
        values.update(fields)
        return SendingProfile.objects.create(**values)

    return make
