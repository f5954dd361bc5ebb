"""The audit log: each action leaves an entry naming who did it (the request's user, the
service's `by`, or the actor a command sets), settings changes are followed without their
secrets, and only administrators read the page."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.urls import reverse

from courrier.billing.services.sending import invoice_batch_start, invoice_resend
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.links import link_revoke
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import message_resend, message_retry
from courrier.privacy.services import client_erase
from tests.billing.factories import make_invoice
from tests.privacy.conftest import ClientFile, logged_in

Status = OutboundMessage.Status


def _entries(action: str) -> list[LogEntry]:
    return list(LogEntry.objects.filter(additional_data__action=action).order_by("pk"))


def test_every_action_names_its_actor(
    make_file: Callable[[str, str], ClientFile],
    admin: Collaborator,
    colleague: Collaborator,
    make_profile: Callable[..., SendingProfile],
    smtp_server: Any,
) -> None:
    file = make_file("C0020", "Boulangerie Dupuis")
    (issued,) = _entries("invoice_issued")
    assert issued.actor == admin and issued.object_pk == str(file.invoice.pk)
    assert issued.object_repr == f"facture {file.invoice.display_number}"
    assert [entry.actor for entry in _entries("message_sent")] == [admin]  # the invoice's mail

    # The compose window, by the logged-in colleague (auditlog's middleware names them).
    make_profile(server=smtp_server, collaborator=colleague)
    browser = logged_in(colleague)
    response = browser.post(
        reverse("mailing:compose") + f"?client={file.client.pk}",
        {
            "recipients": "client",
            "client": str(file.client.pk),
            "language": "fr",
            "subject": "Rappel TVA",
            "body": "Bonjour,",
            "archive": "on",
            "idempotency_key": "audit-1",
            "send": "1",
        },
    )
    assert response.status_code == 302, response.content
    queued = OutboundMessage.objects.get(subject="Rappel TVA")
    sent = _entries("message_sent")[-1]
    assert (sent.actor, sent.object_pk) == (colleague, str(queued.pk))
    assert sent.additional_data["client"] == file.client.pk
    assert "Rappel" not in sent.object_repr and "@" not in sent.object_repr

    # Cancelled from its page, by its sender.
    response = browser.post(reverse("mailing:message_cancel", args=[queued.pk]))
    assert response.status_code == 302
    (cancelled,) = _entries("message_cancelled")
    assert (cancelled.actor, cancelled.object_pk) == (colleague, str(queued.pk))

    # Retried and re-sent (a copy) after a failure, by the administrator.
    OutboundMessage.objects.filter(pk=file.mail.pk).update(status=Status.FAILED)
    failed = OutboundMessage.objects.get(pk=file.mail.pk)
    copy = message_resend(message=failed, by=admin)
    (resent,) = _entries("message_resent")
    assert (resent.actor, resent.object_pk) == (admin, str(copy.pk))
    message_retry(message=failed, by=admin)
    (retried,) = _entries("message_retried")
    assert (retried.actor, retried.object_pk) == (admin, str(failed.pk))

    # The invoice re-sent ("@"), a batch, a link revoked from the Documents tab.
    invoice_resend(invoice=file.invoice, by=colleague)
    assert _entries("invoice_resent")[0].actor == colleague
    other = make_invoice(file.invoice.billing_company, file.client, by=admin)
    batch = invoice_batch_start(by=colleague, invoices=[other], enqueue=False)
    (batch_entry,) = _entries("batch_sent")
    assert (batch_entry.actor, batch_entry.object_pk) == (colleague, str(batch.pk))
    response = logged_in(admin).post(reverse("documents:link_revoke", args=[file.link.pk]))
    assert response.status_code == 302
    (revoked,) = _entries("link_revoked")
    assert (revoked.actor, revoked.object_pk) == (admin, str(file.link.pk))


def test_a_command_names_its_actor_with_set_actor(
    make_file: Callable[[str, str], ClientFile], colleague: Collaborator
) -> None:
    file = make_file("C0021", "Boulangerie Dupuis")
    with set_actor(colleague):
        link_revoke(link=file.link)
    assert _entries("link_revoked")[0].actor == colleague
    # Without anyone named, the entry says so: no actor (the page says "le système").
    link_revoke(link=file.link)
    assert _entries("link_revoked")[1].actor is None


def test_a_password_change_is_logged_without_the_password(
    admin: Collaborator, make_profile: Callable[..., SendingProfile]
) -> None:
    with set_actor(admin):
        profile = make_profile(smtp_username="anne", smtp_password="Ancien-Secret-42")
        profile.smtp_password = "Nouveau-Secret-77"
        profile.imap_password = "Imap-Secret-99"
        profile.save()
        # A token the provider rotates is not a change of settings.
        profile.oauth_access_token = "ya29.token-rotated"
        profile.save()
    entries = list(
        LogEntry.objects.filter(object_pk=str(profile.pk), content_type__model="sendingprofile")
    )
    assert [entry.action for entry in entries] == [LogEntry.Action.UPDATE, LogEntry.Action.CREATE]
    changed = entries[0]
    assert changed.actor == admin
    assert set(changed.changes) == {"smtp_password", "imap_password"}
    assert changed.changes["smtp_password"] == ["********", "********"]
    assert changed.changes["imap_password"] == ["", "********"]
    stored = json.dumps(
        [
            (e.changes, e.changes_text, e.serialized_data, e.additional_data)
            for e in LogEntry.objects.all()
        ]
    )
    for secret in ("Ancien", "Nouveau", "Imap-Secret", "ya29", "Secret-42", "-77", "t-99"):
        assert secret not in stored

    page = html.unescape(
        logged_in(admin).get(reverse("firm:audit") + "?what=profile").content.decode()
    )
    assert "mot de passe" in page and "********" in page
    assert "Nouveau-Secret-77" not in page and "Secret-77" not in page


def test_settings_changed_on_their_page_name_the_administrator(admin: Collaborator) -> None:
    Firm.load()
    browser = logged_in(admin)
    response = browser.post(
        reverse("firm:settings"),
        {
            "name": "Fiduciaire Martin",
            "default_language": "fr",
            "amount_format": Firm._meta.get_field("amount_format").default,
            "retention_years": "8",
        },
    )
    assert response.status_code == 302
    entry = LogEntry.objects.filter(content_type__model="firm", action=LogEntry.Action.UPDATE).get()
    assert entry.actor == admin
    assert entry.changes["retention_years"] == ["10", "8"]
    page = html.unescape(browser.get(reverse("firm:audit") + f"?actor={admin.pk}").content.decode())
    assert "conserver les mails et documents archivés (années) : 10 → 8" in page
    assert "Alice Admin" in page


def test_only_administrators_read_the_log(
    admin: Collaborator, colleague: Collaborator, make_client: Callable[..., Any]
) -> None:
    assert logged_in(colleague).get(reverse("firm:audit")).status_code == 403
    assert logged_in(admin).get(reverse("firm:audit")).status_code == 200
    assert (
        logged_in(admin).get(reverse("firm:audit") + "?since=nonsense&actor=x&what=?").status_code
        == 200
    )
    # Django admin's log entries, for the technical staff only.
    staff = Collaborator.objects.create_user(
        "tech@fidu.test", "pw-tech-1234", is_staff=True, is_superuser=True
    )
    assert logged_in(staff).get(reverse("admin:auditlog_logentry_changelist")).status_code == 200
    assert (
        logged_in(colleague).get(reverse("admin:auditlog_logentry_changelist")).status_code == 302
    )


def test_the_filters_narrow_by_who_what_and_when(
    make_file: Callable[[str, str], ClientFile], admin: Collaborator, colleague: Collaborator
) -> None:
    file = make_file("C0022", "Boulangerie Dupuis")
    client_erase(client=file.client, by=colleague)
    browser = logged_in(admin)
    by_colleague = html.unescape(
        browser.get(reverse("firm:audit") + f"?actor={colleague.pk}").content.decode()
    )
    assert "<td>Données d'un client effacées</td>" in by_colleague
    assert "<td>Facture émise</td>" not in by_colleague
    issued = html.unescape(
        browser.get(reverse("firm:audit") + "?what=invoice_issued").content.decode()
    )
    assert "<td>Facture émise</td>" in issued
    assert "<td>Données d'un client effacées</td>" not in issued
    later = html.unescape(browser.get(reverse("firm:audit") + "?since=2999-01-01").content.decode())
    assert "Aucune entrée." in later


def test_a_password_typed_again_after_a_lost_key_is_logged_and_saved(
    admin: Collaborator, make_profile: Callable[..., SendingProfile]
) -> None:
    from cryptography.fernet import Fernet
    from django.db import connection

    profile = make_profile(smtp_password="Ancien-Secret-42")
    foreign = "fernet:" + Fernet(Fernet.generate_key()).encrypt(b"lost").decode()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE mailing_sendingprofile SET smtp_password = %s WHERE id = %s",
            [foreign, profile.pk],
        )
    # The pages load a profile with its secrets deferred, then set the one typed.
    loaded = SendingProfile.objects.defer("smtp_password", "imap_password").get(pk=profile.pk)
    loaded.smtp_password = "Nouveau-Secret-77"
    with set_actor(admin):
        loaded.save()
        # The outbox's own saves of its state are no change of settings.
        loaded.state = SendingProfile.State.BROKEN
        loaded.save(update_fields=["state"])
    assert SendingProfile.objects.get(pk=profile.pk).smtp_password == "Nouveau-Secret-77"
    entry = LogEntry.objects.filter(
        content_type__model="sendingprofile", action=LogEntry.Action.UPDATE
    ).get()
    assert entry.actor == admin
    assert entry.changes == {"smtp_password": ["********", "********"]}


def test_a_role_change_reads_in_words(admin: Collaborator, colleague: Collaborator) -> None:
    browser = logged_in(admin)
    response = browser.post(
        reverse("firm:collaborator_edit", args=[colleague.pk]),
        {
            "first_name": "Bob",
            "last_name": "Collab",
            "role": Collaborator.Role.ADMIN,
            "language": "fr",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    entry = LogEntry.objects.filter(
        content_type__model="collaborator",
        object_pk=str(colleague.pk),
        action=LogEntry.Action.UPDATE,
    ).get()
    assert entry.actor == admin
    page = html.unescape(browser.get(reverse("firm:audit") + "?what=collaborator").content.decode())
    assert "rôle : collaborateur → administrateur du cabinet" in page
    assert "password" not in json.dumps(entry.changes)


def test_an_english_administrator_reads_a_french_entry_in_english(
    make_file: Callable[[str, str], ClientFile],
    make_collaborator: Callable[..., Collaborator],
) -> None:
    file = make_file("C0020", "Boulangerie Dupuis")  # issued by a French administrator
    reader = make_collaborator(
        email="luc@fidu.test", role=Collaborator.Role.ADMIN, language="en", first_name="Luc"
    )
    page = logged_in(reader).get(reverse("firm:audit")).content.decode()
    assert '<html lang="en">' in page
    assert f"<td>invoice {file.invoice.display_number}</td>" in page
    assert f"facture {file.invoice.display_number}" not in page
    # A row's creation lists its settings, not its id nor the rows that point at it.
    assert "mailing.OutboundMessage.None" not in page and ".None" not in page
    assert "sent_messages" not in page
    assert re.search(r"e-mail address ?: — → luc@fidu.test", page)
