"""A message's bytes live in their own table: written once at compose time, read in one query
per claimed batch, never rewritten by the status changes of delivery. The model does no I/O
for them: the services of `mailing/services/contents.py` read and write them explicitly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from auditlog.context import disable_auditlog
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.mailing.models import MessageContent, OutboundMessage, RawNotLoaded, SendingProfile
from courrier.mailing.services import Draft, message_bytes, message_compose, messages_deliver
from courrier.mailing.services.contents import contents_load
from tests.fakes.smtp import FakeSMTPServer


@pytest.fixture(autouse=True)
def _no_audit_of_past_schemas() -> Iterator[None]:
    """Rows written while the tables are those of an older migration: the audit log, which
    reads the models of today, stays out of it."""
    with disable_auditlog():
        yield


@pytest.fixture
def setup(
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., SendingProfile],
    make_client: Callable[..., Client],
) -> tuple[Collaborator, SendingProfile, list[Client]]:
    profile = make_profile(server=smtp_server, from_address="anne@fidu.test")
    assert profile.collaborator is not None
    clients = [make_client(name=f"Client {n}", emails=[f"info@client{n}.test"]) for n in range(5)]
    return profile.collaborator, profile, clients


def compose_all(sender: Collaborator, clients: list[Client], capture: Any) -> list[OutboundMessage]:
    with capture(execute=False):
        return [
            message_compose(
                sender=sender,
                client=client,
                draft=Draft(subject="Dossier {NOMCLIENT}", body="Bonjour."),
            )
            for client in clients
        ]


def test_delivery_reads_the_batch_bytes_in_one_query_and_never_rewrites_them(
    setup: tuple[Collaborator, SendingProfile, list[Client]],
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sender, profile, clients = setup
    messages = compose_all(sender, clients, django_capture_on_commit_callbacks)
    stored = {pk: bytes(raw) for pk, raw in MessageContent.objects.values_list("message_id", "raw")}
    assert set(stored) == {message.pk for message in messages}

    with CaptureQueriesContext(connection) as queries:
        report = messages_deliver(profile_id=profile.pk)

    assert report.sent == 5
    assert sorted(received.data for received in smtp_server.messages) == sorted(stored.values())
    touching = [q["sql"] for q in queries.captured_queries if "mailing_messagecontent" in q["sql"]]
    assert len(touching) == 1, touching
    assert touching[0].lstrip().upper().startswith("SELECT")
    # The outbox rows changed (claimed, then sent); the bytes stayed as composed.
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"sent"}
    assert {
        pk: bytes(raw) for pk, raw in MessageContent.objects.values_list("message_id", "raw")
    } == stored


def test_a_message_read_back_has_its_bytes_read_explicitly_and_deleting_it_deletes_them(
    setup: tuple[Collaborator, SendingProfile, list[Client]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    sender, _profile, clients = setup
    [message, *_others] = compose_all(sender, clients, django_capture_on_commit_callbacks)
    again = OutboundMessage.objects.get(pk=message.pk)
    with CaptureQueriesContext(connection) as queries:
        raw = message_bytes(again)
    assert len(queries.captured_queries) == 1
    assert raw == again.raw == message.raw
    assert again.raw.startswith(b"") and b"Subject: Dossier Client 0" in again.raw
    assert again.size == len(again.raw)

    again.delete()
    assert not MessageContent.objects.filter(message_id=message.pk).exists()
    assert MessageContent.objects.count() == 4


def test_bytes_not_read_raise_instead_of_querying(
    setup: tuple[Collaborator, SendingProfile, list[Client]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    sender, _profile, clients = setup
    compose_all(sender, clients, django_capture_on_commit_callbacks)
    listed = list(OutboundMessage.objects.order_by("pk"))
    with CaptureQueriesContext(connection) as queries:
        with pytest.raises(RawNotLoaded, match="message_bytes"):
            _ = listed[0].raw
        assert not listed[0].raw_loaded
    assert queries.captured_queries == []

    with CaptureQueriesContext(connection) as queries:
        contents_load(listed)
        contents_load(listed)  # already read: nothing asked again
    assert len(queries.captured_queries) == 1
    assert all(b"Subject: Dossier Client" in message.raw for message in listed)


def test_saving_a_message_never_touches_its_bytes(
    setup: tuple[Collaborator, SendingProfile, list[Client]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    sender, _profile, clients = setup
    [message] = compose_all(sender, clients[:1], django_capture_on_commit_callbacks)
    stored = bytes(MessageContent.objects.get(message_id=message.pk).raw)
    message.subject = "Autre sujet"
    with CaptureQueriesContext(connection) as queries:
        message.save()
    assert [q["sql"] for q in queries.captured_queries if "messagecontent" in q["sql"]] == []
    assert message_bytes(OutboundMessage.objects.get(pk=message.pk)) == stored


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_the_bytes_out_and_back(
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., SendingProfile],
    make_client: Callable[..., Client],
    django_capture_on_commit_callbacks: Any,
) -> None:
    profile = make_profile(server=smtp_server, from_address="anne@fidu.test")
    assert profile.collaborator is not None
    client = make_client(name="Dupuis", emails=["info@dupuis.test"])
    [message] = compose_all(profile.collaborator, [client], django_capture_on_commit_callbacks)
    raw = message.raw

    executor = MigrationExecutor(connection)
    executor.migrate([("mailing", "0007_contexts_links_connections")])
    with connection.cursor() as cursor:
        cursor.execute("SELECT raw FROM mailing_outboundmessage WHERE id = %s", [message.pk])
        assert bytes(cursor.fetchone()[0]) == raw

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert bytes(MessageContent.objects.get(message_id=message.pk).raw) == raw
    assert message_bytes(OutboundMessage.objects.get(pk=message.pk)) == raw
