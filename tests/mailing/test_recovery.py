"""What a stopped run leaves, settled: one message uncertain and said as such, the rest of
its batch sent once; a dead worker's task row and claims settled at once, a live one's never.

A dead worker is a process that ran and exited (its pid named in the claim's token); the
messages go to the fake SMTP server on 127.0.0.1.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from html import unescape
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import F
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from courrier.clients.models import Client
from courrier.mailing.models import DeliveryAttempt, OutboundMessage, SendingProfile
from courrier.mailing.services import (
    Draft,
    delivery,
    leases,
    message_compose,
    messages_deliver,
    messages_recover,
    workers,
)
from courrier.mailing.tasks import deliver_profile
from courrier.mailing.transports import transport_for
from courrier.mailing.transports.base import Transport
from tests.fakes.smtp import FakeSMTPServer

Status = OutboundMessage.Status


@pytest.fixture
def profile(smtp_server: FakeSMTPServer, make_profile: Callable[..., SendingProfile]) -> Any:
    return make_profile(server=smtp_server, from_address="anne@fidu.test")


@pytest.fixture
def outbox(profile: SendingProfile, make_client: Callable[..., Client]) -> list[OutboundMessage]:
    sender = profile.collaborator
    assert sender is not None
    client = make_client(name="Boulangerie Dupont", emails=["info@dupont.test"])
    return [
        message_compose(
            sender=sender,
            client=client,
            draft=Draft(subject=f"Dossier {n}", body="Bonjour,\n\nVoici le point."),
        )
        for n in (1, 2, 3)
    ]


def _dead_token() -> str:
    """A claim token of a process of this host that has exited."""
    child = subprocess.Popen(["true"])
    child.wait()
    return f"{workers.process_name().split(':')[0]}:{child.pid}:1:{uuid.uuid4().hex[:16]}"


def _text(response: Any) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def _arrived(server: FakeSMTPServer) -> Counter[str]:
    return Counter(str(m.message["Subject"]) for m in server.messages)


def test_a_dead_runs_message_in_flight_is_uncertain_with_what_is_known(
    profile: SendingProfile, outbox: list[OutboundMessage], smtp_server: FakeSMTPServer
) -> None:
    # A worker claimed the three, the server accepted the first, then the worker died while
    # the second was on its way (its lease still runs: ten minutes are not waited for).
    token = _dead_token()
    run = delivery._Run(profile, token, delivery.DeliveryReport(profile_id=profile.pk))
    claimed = delivery._claim(
        profile_id=profile.pk, limit=3, token=token, started_at=timezone.now()
    )
    attempts = run.begin(claimed)
    with transport_for(profile) as transport:
        run.sent(claimed[0], attempts[claimed[0].pk], transport.send(claimed[0]))

    out = StringIO()
    call_command("outbox_recover", "--no-kick", stdout=out)
    assert "2 envois interrompus réglés." in out.getvalue()
    first, second, third = (OutboundMessage.objects.get(pk=m.pk) for m in outbox)
    assert (first.status, second.status, third.status) == (
        Status.SENT,
        Status.UNCERTAIN,
        Status.QUEUED,
    )
    # The third was never handed over: no trace of a try.
    assert not DeliveryAttempt.objects.filter(message=third).exists()
    assert third.attempts == 0

    accepted = timezone.localtime(first.sent_at)
    known = (
        "Le serveur avait accepté le message précédent de la tournée le "
        f"{accepted:%d/%m/%Y} à {accepted:%H:%M:%S} ; celui-ci était le suivant, aucune "
        "réponse n'est arrivée."
    )
    sender = profile.collaborator
    assert sender is not None
    browser = Browser()
    browser.force_login(sender)
    listed = _text(browser.get(reverse("mailing:outbox"), {"status": "uncertain"}))
    assert "Dossier 2" in listed and known in listed
    page = _text(browser.get(reverse("mailing:message_detail", args=[second.pk])))
    assert known in page

    # The next run sends the third once; the uncertain one waits for a person.
    messages_deliver(profile_id=profile.pk)
    assert _arrived(smtp_server) == {"Dossier 1": 1, "Dossier 3": 1}


class _SweptWhileSending(Transport):
    """The real SMTP transport, during whose first send a sweeper runs with a clock ahead of
    the worker's by more than the lease (another machine's, or this one's after a jump)."""

    def __init__(self, profile: SendingProfile) -> None:
        super().__init__(profile)
        self.real = transport_for(profile)
        self.swept = False

    @property
    def is_open(self) -> bool:
        return self.real.is_open

    def open(self) -> None:
        self.real.open()

    def close(self) -> None:
        self.real.close()

    def send(self, message: OutboundMessage) -> Any:
        if not self.swept:
            self.swept = True
            messages_recover(now=timezone.now() + 2 * leases.lease())
        return self.real.send(message)


def test_a_run_whose_claims_a_sweeper_with_its_clock_ahead_took_never_sends_them(
    profile: SendingProfile,
    outbox: list[OutboundMessage],
    smtp_server: FakeSMTPServer,
) -> None:
    token = leases.run_token()
    report = delivery.DeliveryReport(profile_id=profile.pk)
    run = delivery._Run(profile, token, report)
    claimed = delivery._claim(
        profile_id=profile.pk, limit=3, token=token, started_at=timezone.now()
    )
    delivery._send(run, claimed, _SweptWhileSending(profile))

    # The first was on its way: the server's answer came and is recorded. The two others were
    # given back to the queue by the sweeper: this run dropped them.
    assert report.sent == 1
    assert _arrived(smtp_server) == {"Dossier 1": 1}
    statuses = [OutboundMessage.objects.get(pk=m.pk).status for m in outbox]
    assert statuses == [Status.SENT, Status.QUEUED, Status.QUEUED]

    messages_deliver(profile_id=profile.pk)
    assert _arrived(smtp_server) == {"Dossier 1": 1, "Dossier 2": 1, "Dossier 3": 1}
    assert {OutboundMessage.objects.get(pk=m.pk).status for m in outbox} == {Status.SENT}


def _running(worker_id: str, profile: SendingProfile) -> DBTaskResult:
    result = deliver_profile.enqueue(profile.pk)
    row = DBTaskResult.objects.get(pk=result.id)
    row.claim(worker_id)
    return row


def test_a_dead_workers_task_and_claims_are_settled_and_a_live_ones_never(
    profile: SendingProfile, outbox: list[OutboundMessage]
) -> None:
    DBTaskResult.objects.all().delete()
    alive = workers.process_token()
    dead = _dead_token()
    live_row, dead_row = _running(alive, profile), _running(dead, profile)
    now = timezone.now()
    for message, token in ((outbox[0], alive), (outbox[1], dead)):
        leases.claim(
            OutboundMessage.objects.filter(pk=message.pk),
            token=token,
            now=now,
            status=Status.SENDING,
            attempts=F("attempts") + 1,
        )

    out = StringIO()
    call_command("outbox_recover", "--no-kick", stdout=out)
    assert "1 tâche d'un worker arrêté marquée en échec." in out.getvalue()

    live_row.refresh_from_db()
    dead_row.refresh_from_db()
    assert live_row.status == TaskResultStatus.RUNNING
    assert dead_row.status == TaskResultStatus.FAILED
    assert dead_row.exception_class_path == "courrier.mailing.WorkerLost"
    assert f"Worker {dead} stopped" in dead_row.traceback
    # The live worker's claim holds; the dead one's (never begun) went back to the queue.
    assert OutboundMessage.objects.get(pk=outbox[0].pk).status == Status.SENDING
    assert OutboundMessage.objects.get(pk=outbox[1].pk).status == Status.QUEUED

    # A task of a worker on another machine: only after TASK_STALE_SECONDS.
    elsewhere = _running("another-host:4242:77:" + "f" * 16, profile)
    call_command("outbox_recover", "--no-kick", stdout=StringIO())
    elsewhere.refresh_from_db()
    assert elsewhere.status == TaskResultStatus.RUNNING
    DBTaskResult.objects.filter(pk=elsewhere.pk).update(
        started_at=timezone.now() - timedelta(days=2)
    )
    call_command("outbox_recover", "--no-kick", stdout=StringIO())
    elsewhere.refresh_from_db()
    assert elsewhere.status == TaskResultStatus.FAILED
    assert "more than TASK_STALE_SECONDS" in elsewhere.traceback


def test_a_run_from_before_processes_were_named_leaves_every_begun_message_uncertain(
    profile: SendingProfile, outbox: list[OutboundMessage], smtp_server: FakeSMTPServer
) -> None:
    # Such a run recorded its answers at the end of its batch: any message it began may have
    # left, so none of them is sent again by itself.
    token = uuid.uuid4().hex
    run = delivery._Run(profile, token, delivery.DeliveryReport(profile_id=profile.pk))
    claimed = delivery._claim(
        profile_id=profile.pk, limit=2, token=token, started_at=timezone.now()
    )
    run.begin(claimed)

    assert messages_recover(now=timezone.now() + 2 * leases.lease()) == 2
    statuses = [OutboundMessage.objects.get(pk=m.pk).status for m in outbox]
    assert statuses == [Status.UNCERTAIN, Status.UNCERTAIN, Status.QUEUED]
    messages_deliver(profile_id=profile.pk)
    assert _arrived(smtp_server) == {"Dossier 3": 1}
