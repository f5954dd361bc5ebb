"""Sending to a selection: one mail per client, in its language, with its own data and nobody
else's; composed once however often the task runs or stops; the pre-send check per client."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.exceptions import ProfileMissing
from courrier.mailing.models import (
    MailBatch,
    MailTemplate,
    MailTemplateVersion,
    OutboundMessage,
    SendingProfile,
)
from courrier.mailing.services import (
    Draft,
    batch_compose,
    batch_create,
    batch_create_once,
    batch_resume,
    message_bytes,
    messages_deliver,
    presend_check,
    rounds,
)
from courrier.texts import render_all
from tests.fakes.smtp import FakeSMTPServer

LANGUAGES = ("fr", "nl", "de", "en")
GREETING = {"fr": "Bonjour", "nl": "Goedendag", "de": "Guten Tag", "en": "Hello"}
COUNTRY = {"fr": "Belgique", "nl": "België", "de": "Belgien", "en": "Belgium"}
# Each client carries its own tokens in its name, number and street; none is part of another.
TOKEN = re.compile(r"K\d{4}Q|N\d{4}Z|R\d{4}W")


def tokens_of(index: int) -> set[str]:
    return {f"K{index:04d}Q", f"N{index:04d}Z", f"R{index:04d}W"}


@pytest.fixture
def profile(smtp_server: FakeSMTPServer, make_profile: Callable[..., SendingProfile]) -> Any:
    return make_profile(server=smtp_server, from_name="Anne Dupont", from_address="anne@fidu.test")


@pytest.fixture
def sender(profile: SendingProfile) -> Collaborator:
    assert profile.collaborator is not None
    return profile.collaborator


@pytest.fixture
def template(db: None) -> MailTemplate:
    template = MailTemplate.objects.create(name="Rappel de documents")
    for language in LANGUAGES:
        MailTemplateVersion.objects.create(
            template=template,
            language=language,
            subject=f"{GREETING[language]} {{NOMCLIENT}} ({{NUMCLIENT}})",
            body=(
                f"{GREETING[language]} {{NOMCLIENT}},\n\n"
                "- **{NUMCLIENT}**\n- {ADRESSE}\n- {PAYS}\n"
            ),
        )
    return template


def make_selection(count: int) -> list[Client]:
    clients = [
        Client(
            number=f"N{index:04d}Z",
            name=f"Client K{index:04d}Q",
            legal_form="SRL",
            language=LANGUAGES[index % 4],
            street=f"Rue R{index:04d}W 1",
            postal_code="1000",
            city="Bruxelles",
        )
        for index in range(count)
    ]
    Client.objects.bulk_create(clients)
    clients = list(Client.objects.filter(number__in=[c.number for c in clients]).order_by("pk"))
    ClientEmail.objects.bulk_create(
        ClientEmail(client=client, address=f"{client.number.lower()}@clients.test")
        for client in clients
    )
    return clients


def index_of(client: Client) -> int:
    return int(client.number[1:5])


def parts(raw: bytes) -> tuple[EmailMessage, str]:
    """The message and everything a reader sees in it: subject, text and HTML."""
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    seen = [str(parsed["Subject"])]
    for content_type in ("plain", "html"):
        part = parsed.get_body(preferencelist=(content_type,))
        assert isinstance(part, EmailMessage)
        seen.append(str(part.get_content()))
    return parsed, "\n".join(seen)


def create(sender: Collaborator, clients: list[Client], **arguments: Any) -> MailBatch:
    values: dict[str, Any] = {
        "sender": sender,
        "client_ids": [client.pk for client in clients],
        "subject": "",
        "body": "",
        "template": None,
        "options": {},
        "uploads": [],
    }
    values.update(arguments)
    return batch_create(**values)


def compose_tasks() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path__endswith="tasks.compose_batch"))


# -- two hundred clients -----------------------------------------------------------------------


def test_two_hundred_clients_get_their_own_mail_in_their_language_and_nothing_else(
    sender: Collaborator,
    template: MailTemplate,
    profile: SendingProfile,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    clients = make_selection(200)
    by_pk = {client.pk: client for client in clients}

    with django_capture_on_commit_callbacks(execute=True):
        batch = create(sender, clients, template=template, options={"cc": ["suivi@fidu.test"]})
    # Two rounds' worth: two tasks compose it side by side, and the last one closes it.
    assert [task.args_kwargs["args"] for task in compose_tasks()] == [
        [batch.pk, 0, 2],
        [batch.pk, 1, 2],
    ]
    half = batch_compose(batch_id=batch.pk, part=0, parts=2)
    assert (half.state, half.queued) == ("composing", 100)
    batch = batch_compose(batch_id=batch.pk, part=1, parts=2)

    assert (batch.state, batch.total, batch.queued, batch.blocked) == ("done", 200, 200, {})
    messages = list(OutboundMessage.objects.filter(batch=batch))
    assert sorted(m.client_id or 0 for m in messages) == sorted(by_pk)
    for message in messages:
        client = by_pk[message.client_id or 0]
        mine = tokens_of(index_of(client))
        parsed, seen = parts(message_bytes(message))
        assert set(TOKEN.findall(seen)) == mine, (client, seen)
        assert message.idempotency_key == f"batch:{batch.pk}:client:{client.pk}"
        assert message.to == [f"{client.number.lower()}@clients.test"]
        assert message.envelope_recipients == [*message.to, "suivi@fidu.test"]
        assert (message.language, parsed["Content-Language"]) == (client.language,) * 2
        others = [word for lang, word in GREETING.items() if lang != client.language]
        assert GREETING[client.language] in seen and not any(w in seen for w in others)
        assert COUNTRY[client.language] in seen
        assert f"<strong>{client.number}</strong>" in seen

    # What arrives is the same: each client's address receives its own mail only.
    report = messages_deliver(profile_id=profile.pk, limit=500)
    assert report.sent == 200
    arrived = smtp_server.wait_for(200)
    numbers = {client.number.lower(): client for client in clients}
    for received in arrived:
        client = numbers[received.rcpt_tos[0].split("@")[0]]
        assert received.rcpt_tos == [received.rcpt_tos[0], "suivi@fidu.test"]
        assert set(TOKEN.findall(parts(received.data)[1])) == tokens_of(index_of(client))


def test_running_the_task_again_queues_nothing_new(
    sender: Collaborator, template: MailTemplate
) -> None:
    clients = make_selection(20)
    batch = create(sender, clients, template=template)
    batch_compose(batch_id=batch.pk)
    first = set(OutboundMessage.objects.values_list("pk", "message_id"))

    again = batch_compose(batch_id=batch.pk)
    # Even a batch marked unfinished (a worker that died before saying "done").
    MailBatch.objects.filter(pk=batch.pk).update(state=MailBatch.State.COMPOSING, queued=0)
    resumed = batch_compose(batch_id=batch.pk)

    assert set(OutboundMessage.objects.values_list("pk", "message_id")) == first
    assert (again.state, again.queued) == ("done", 20)
    assert (resumed.state, resumed.queued) == ("done", 20)


def test_a_task_stopped_midway_is_finished_by_the_next_run_without_duplicates(
    sender: Collaborator, template: MailTemplate, django_capture_on_commit_callbacks: Any
) -> None:
    clients = make_selection(120)
    batch = create(sender, clients, template=template)

    stopped = batch_compose(batch_id=batch.pk, limit=70)
    assert (stopped.state, OutboundMessage.objects.count()) == ("composing", 70)
    assert MailBatch.objects.get(pk=batch.pk).queued == 70
    with django_capture_on_commit_callbacks(execute=True):
        assert batch_resume(batch=stopped) is True
    assert len(compose_tasks()) == 1
    finished = batch_compose(batch_id=batch.pk)

    assert (finished.state, finished.queued) == ("done", 120)
    keys = list(OutboundMessage.objects.values_list("client_id", flat=True))
    assert sorted(keys) == sorted(client.pk for client in clients)
    assert batch_resume(batch=finished) is False


def test_outbox_recover_resumes_a_batch_whose_worker_stopped_and_leaves_recent_ones(
    sender: Collaborator, template: MailTemplate, django_capture_on_commit_callbacks: Any
) -> None:
    clients = make_selection(30)
    stalled = batch_compose(batch_id=create(sender, clients, template=template).pk, limit=10)
    recent = create(sender, clients[:5], template=template)
    long_ago = timezone.now() - timedelta(hours=2)
    MailBatch.objects.filter(pk=stalled.pk).update(created_at=long_ago)
    DBTaskResult.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("outbox_recover", "--no-kick", stdout=StringIO())

    [task] = compose_tasks()
    assert task.args_kwargs["args"] == [stalled.pk, 0, 1]
    finished = batch_compose(batch_id=stalled.pk)
    assert (finished.state, finished.queued) == ("done", 30)
    assert MailBatch.objects.get(pk=recent.pk).state == "pending"


def test_a_crash_midway_loses_nothing_and_the_rerun_completes(
    sender: Collaborator, template: MailTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = make_selection(90)
    batch = create(sender, clients, template=template)
    # Rounds of ten: the sixth round's store dies, after fifty mails were stored.
    monkeypatch.setattr(rounds, "ROUND", 10)
    real_store = rounds.messages_store
    calls = {"n": 0}

    def dies_at_the_sixth_round(*args: Any, **kwargs: Any) -> list[OutboundMessage]:
        calls["n"] += 1
        if calls["n"] == 6:
            raise RuntimeError("the worker's disk is full")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(rounds, "messages_store", dies_at_the_sixth_round)
    with pytest.raises(RuntimeError):
        batch_compose(batch_id=batch.pk)

    crashed = MailBatch.objects.get(pk=batch.pk)
    assert crashed.state == "failed"
    assert "the worker's disk is full" in crashed.error
    assert (crashed.queued, OutboundMessage.objects.count()) == (50, 50)
    # Every stored message is complete: its bytes are there.
    assert not OutboundMessage.objects.filter(size=0).exists()

    monkeypatch.setattr(rounds, "messages_store", real_store)
    finished = batch_compose(batch_id=batch.pk)

    assert (finished.state, finished.queued, finished.error) == ("done", 90, "")
    client_ids = list(OutboundMessage.objects.values_list("client_id", flat=True))
    assert sorted(client_ids) == sorted(client.pk for client in clients)


def test_blocked_clients_are_listed_with_their_reasons_and_the_others_go(
    sender: Collaborator, make_client: Callable[..., Client]
) -> None:
    template = MailTemplate.objects.create(name="Bilan")
    for language in ("fr", "nl"):
        MailTemplateVersion.objects.create(
            template=template, language=language, subject="Bilan {NUMCLIENT}", body="{CONTACT}"
        )
    ready = make_client(name="Prêt", language="fr", contact_name="Paul")
    german = make_client(name="Deutsch", language="de", contact_name="Dieter")
    silent = make_client(name="Sans adresse", language="nl", contact_name="Els", emails=[])
    gone = make_client(name="Parti", language="fr", contact_name="Luc")
    batch = create(sender, [ready, german, silent, gone], template=template)
    gone_pk = gone.pk
    gone.delete()

    batch = batch_compose(batch_id=batch.pk)

    assert (batch.state, batch.total, batch.queued) == ("done", 4, 1)
    # Stored as msgids and parameters, read in the reader's language (French here).
    assert {pk: render_all(reasons) for pk, reasons in batch.blocked.items()} == {
        str(german.pk): [
            "Le modèle « Bilan » n'a pas de version en allemand (il existe en : français, "
            "néerlandais)."
        ],
        str(silent.pk): [
            "Le client Sans adresse SRL n'a pas d'adresse e-mail : ajoutez-en une dans sa fiche "
            "avant d'envoyer."
        ],
        str(gone_pk): ["Ce client n'existe plus."],
    }
    assert list(OutboundMessage.objects.values_list("client_id", flat=True)) == [ready.pk]

    # The missing address is added and the batch resumed: that client gets its mail too.
    ClientEmail.objects.create(client=silent, address="bureau@silent.test")
    MailBatch.objects.filter(pk=batch.pk).update(state=MailBatch.State.COMPOSING)
    batch = batch_compose(batch_id=batch.pk)
    assert batch.queued == 2
    assert set(batch.blocked) == {str(german.pk), str(gone_pk)}


def test_typed_text_is_rendered_in_each_clients_language(sender: Collaborator) -> None:
    clients = make_selection(4)
    batch = create(sender, clients, subject="Votre dossier {NUMCLIENT}", body="Pays : {PAYS}")

    batch_compose(batch_id=batch.pk)

    for message in OutboundMessage.objects.select_related("client"):
        assert message.client is not None
        assert message.language == message.client.language
        assert f"Pays : {COUNTRY[message.language]}" in parts(message_bytes(message))[1]


def test_the_options_apply_to_every_message_of_the_batch(
    sender: Collaborator,
    template: MailTemplate,
    django_capture_on_commit_callbacks: Any,
) -> None:
    Firm.objects.update_or_create(pk=1, defaults={"fixed_bcc": "archives@fidu.test"})
    clients = make_selection(3)
    when = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    batch = create(
        sender,
        clients,
        template=template,
        options={
            "cc": "suivi@fidu.test; Suivi@FIDU.test",
            "bcc": ["secret@fidu.test"],
            "copy_to_sender": True,
            "read_receipt": True,
            "reply_to": "dossiers@fidu.test",
            "scheduled_at": when.isoformat(),
            "archive": False,
            "idempotency_key": "fenetre-42",
        },
    )
    assert batch.options["idempotency_key"] == "fenetre-42"

    with django_capture_on_commit_callbacks(execute=True):
        batch_compose(batch_id=batch.pk)

    for message in OutboundMessage.objects.all():
        parsed, _seen = parts(message_bytes(message))
        assert parsed["Cc"] == "suivi@fidu.test"
        assert parsed["Reply-To"] == "dossiers@fidu.test"
        assert parsed["Disposition-Notification-To"] == "anne@fidu.test"
        assert message.envelope_recipients == [
            *message.to,
            "suivi@fidu.test",
            "secret@fidu.test",
            sender.email,
            "archives@fidu.test",
        ]
        assert b"secret@fidu.test" not in message_bytes(message)
        assert (message.archived, message.scheduled_at) == (False, when)
    runs = DBTaskResult.objects.filter(task_path__endswith="tasks.deliver_profile")
    assert runs.exists() and {run.run_after for run in runs} == {when}


def test_a_form_sent_twice_under_one_key_makes_one_batch_and_one_compose_task(
    sender: Collaborator,
    template: MailTemplate,
    profile: SendingProfile,
    django_capture_on_commit_callbacks: Any,
) -> None:
    clients = make_selection(3)
    values: dict[str, Any] = {
        "client_ids": [client.pk for client in clients],
        "subject": "",
        "body": "",
        "template": template,
        "options": {"idempotency_key": "fenetre-7"},
    }

    with django_capture_on_commit_callbacks(execute=True):
        first, first_new = batch_create_once(key="fenetre-7", sender=sender, **values)
        again, again_new = batch_create_once(key="fenetre-7", sender=sender, **values)
        other, other_new = batch_create_once(
            key="fenetre-8",
            sender=sender,
            **{**values, "options": {"idempotency_key": "fenetre-8"}},
        )

    assert (first_new, again_new, other_new) == (True, False, True)
    assert again.pk == first.pk and other.pk != first.pk
    assert MailBatch.objects.filter(sender=sender).count() == 2
    assert sorted(task.args_kwargs["args"][0] for task in compose_tasks()) == [first.pk, other.pk]


def test_a_batch_is_refused_before_anything_is_stored(
    sender: Collaborator,
    make_collaborator: Callable[..., Collaborator],
    make_client: Callable[..., Client],
) -> None:
    client = make_client()

    with pytest.raises(ValidationError) as bad_address:
        create(sender, [client], subject="S", body="B", options={"cc": ["nulle part"]})
    with pytest.raises(ValidationError) as unknown_field:
        create(sender, [client], subject="S", body="Cher {NOMCLIEN}")
    with pytest.raises(ValidationError) as nobody:
        create(sender, [], subject="S", body="B")
    with pytest.raises(ProfileMissing):
        create(make_collaborator(), [client], subject="S", body="B")

    assert bad_address.value.messages == [
        "Cc : « nulle part » n'est pas une adresse e-mail valide."
    ]
    assert unknown_field.value.messages == [
        "Champ inconnu {NOMCLIEN} : vouliez-vous dire {NOMCLIENT} ?"
    ]
    assert nobody.value.messages == ["Aucun client n'est choisi."]
    assert not MailBatch.objects.exists() and not compose_tasks()


def test_a_batch_whose_profile_broke_meanwhile_stops_and_says_why(
    sender: Collaborator, profile: SendingProfile, template: MailTemplate
) -> None:
    batch = create(sender, make_selection(3), template=template)
    SendingProfile.objects.filter(pk=profile.pk).update(
        state=SendingProfile.State.BROKEN, state_reason="mot de passe refusé."
    )

    batch = batch_compose(batch_id=batch.pk)

    assert batch.state == "failed"
    assert "mot de passe refusé." in batch.error
    assert not OutboundMessage.objects.exists()


# -- the pre-send check ----------------------------------------------------------------------


def test_the_presend_check_lists_what_blocks_and_what_warns(
    sender: Collaborator, make_client: Callable[..., Client]
) -> None:
    template = MailTemplate.objects.create(name="Bilan")
    MailTemplateVersion.objects.create(
        template=template, language="fr", subject="Bilan {NUMCLIENT}", body="{CONTACT}"
    )
    fine = make_client(name="Complet", contact_name="Marie", language="fr")
    empty = make_client(name="Sans contact", language="fr")
    dutch = make_client(name="Nederlands", contact_name="Jan", language="nl")
    nowhere = make_client(name="Sans adresse", contact_name="Luc", language="fr", emails=[])
    clients = [fine, empty, dutch, nowhere]

    in_batch = presend_check(
        sender=sender,
        draft=Draft(subject="", body="", template=template),
        clients=clients,
        batch=True,
    )
    # One client: the window's text, loaded from the French version, in French.
    version = template.version("fr")
    assert version is not None
    window = Draft(subject=version.subject, body=version.body, template=template)
    one_off = presend_check(
        sender=sender, clients=[dutch], draft=window, options={"language": "fr"}, batch=False
    )
    one_off_allowed = presend_check(
        sender=sender,
        clients=[dutch],
        draft=window,
        options={"language": "fr", "other_language": True},
        batch=False,
    )
    typo = presend_check(
        sender=sender, draft=Draft(subject="Dossier", body="{NOMCLIEN}"), clients=[fine], batch=True
    )

    assert [(render_all(c.blockers), render_all(c.warnings)) for c in in_batch] == [
        ([], []),
        (
            [
                "Le champ {CONTACT} (Personne de contact) est vide : le mail ne part pas avec "
                "un blanc. Complétez la donnée, ou retirez ce passage du texte."
            ],
            [],
        ),
        (["Le modèle « Bilan » n'a pas de version en néerlandais (il existe en : français)."], []),
        (
            [
                "Le client Sans adresse SRL n'a pas d'adresse e-mail : ajoutez-en une dans sa "
                "fiche avant d'envoyer."
            ],
            [],
        ),
    ]
    [check] = one_off
    assert (check.language, check.language_fallback, check.warnings) == ("fr", True, [])
    assert render_all(check.blockers) == [
        "Langue de ce client : néerlandais ; le texte est en français. Écrivez-le en "
        "néerlandais, ou cochez « Autoriser une autre langue que celle du client » pour le lui "
        "envoyer tout entier en français."
    ]
    [check] = one_off_allowed
    assert (check.blockers, check.language, check.language_fallback) == ([], "fr", True)
    assert render_all(check.warnings) == [
        "Langue de ce client : néerlandais ; ce mail part tout entier en français (formule "
        "d'appel, dates et montants compris)."
    ]
    assert check.preview is not None and check.preview.language == "fr"
    assert render_all(typo[0].blockers) == [
        "Champ inconnu {NOMCLIEN} : vouliez-vous dire {NOMCLIENT} ?"
    ]


def test_a_profile_that_cannot_send_blocks_every_recipient(
    sender: Collaborator, profile: SendingProfile, make_client: Callable[..., Client]
) -> None:
    SendingProfile.objects.filter(pk=profile.pk).update(
        state=SendingProfile.State.BROKEN, state_reason="mot de passe refusé."
    )
    clients = [make_client(), make_client()]

    checks = presend_check(
        sender=sender, draft=Draft(subject="S", body="B"), clients=clients, batch=True
    )

    assert all(len(check.blockers) == 1 for check in checks)
    assert "mot de passe refusé." in str(checks[0].blockers[0])
    assert checks[0].blockers == checks[1].blockers


def test_a_sender_without_profile_is_blocked_not_crashed(
    make_collaborator: Callable[..., Collaborator], make_client: Callable[..., Client]
) -> None:
    checks = presend_check(
        sender=make_collaborator(),
        draft=Draft(subject="S", body="B"),
        clients=[make_client()],
        batch=True,
    )

    assert render_all(checks[0].blockers) == [str(ProfileMissing())]


def test_the_presend_check_costs_the_same_queries_for_ten_or_a_hundred_clients(
    sender: Collaborator, template: MailTemplate
) -> None:
    clients = make_selection(110)

    def queries(count: int) -> int:
        fresh = list(Client.objects.filter(pk__in=[c.pk for c in clients[:count]]))
        with CaptureQueriesContext(connection) as captured:
            checks = presend_check(
                sender=sender,
                draft=Draft(subject="", body="", template=template),
                clients=fresh,
                batch=True,
            )
        assert len(checks) == count and not any(check.blockers for check in checks)
        return len(captured.captured_queries)

    ten, hundred = queries(10), queries(100)

    # One query a client remains: the firm's row, read by the merge-field catalogue.
    assert hundred - ten <= 90, (ten, hundred)
