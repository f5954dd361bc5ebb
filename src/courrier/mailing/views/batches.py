"""The page of a send to several clients (a selection, a tax list's rows, documents): what it is
about, the subject each mail left with, and what became of each message — followed while mails
are on their way, still once every message is settled (sent, delivered, failed, uncertain, ...).

Making the messages (the batch's task) is only the first half: a batch whose messages are all
made is not sent yet; the page says what the worker did with each of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from courrier.firm.models import Collaborator
from courrier.mailing import selectors, services
from courrier.mailing.contexts import CLIENT_CONTEXT, MailContext
from courrier.mailing.models import MailBatch, MailTemplate, OutboundMessage
from courrier.mailing.services import profiles
from courrier.params import id_from, next_url
from courrier.texts import render_all

BRUSSELS = ZoneInfo("Europe/Brussels")
# Rows shown on the page; the batch's outbox lists them all.
MESSAGE_ROWS = 500
# How often the page asks again: while mails are on their way, and while they only wait for a
# person (a profile to fix) or for their scheduled time.
POLL_MOVING = 2
POLL_WAITING = 30

Status = OutboundMessage.Status


def _outcome_labels() -> dict[str, str]:
    """One message's outcome, as its badge says it."""
    return {
        "queued": _("en file d'attente"),
        "sending": _("en cours d'envoi"),
        "retry": _("nouvel essai prévu"),
        "held": _("en attente du paramétrage"),
        "sent": _("envoyé"),
        "delivered": _("remis"),
        "bounced": _("rejeté"),
        "failed": _("échec"),
        "uncertain": _("incertain"),
        "cancelled": _("annulé"),
    }


def _count_labels() -> list[tuple[str, str]]:
    """The counts per outcome, in the order the page lists them."""
    return [
        ("sent", _("Envoyés")),
        ("delivered", _("Remis")),
        ("failed", _("En échec")),
        ("bounced", _("Rejetés")),
        ("uncertain", _("Incertains")),
        ("retry", _("Nouvel essai prévu")),
        ("held", _("En attente du paramétrage")),
        ("queued", _("En file d'attente")),
        ("sending", _("En cours d'envoi")),
        ("cancelled", _("Annulés")),
    ]


def _titles() -> dict[str, str]:
    return {
        "client": _("Envoi à une sélection de clients"),
        "vat": _("Déclarations TVA"),
        "isoc": _("Déclarations ISOC"),
        "ipp": _("Déclarations IPP"),
        "bnb": _("Comptes annuels (BNB)"),
        "document": _("Envoi de documents"),
        "invoice": _("Envoi de factures"),
        # Objects of one context whose templates are of another: credit notes are invoices.
        "credit_note": _("Envoi de notes de crédit"),
        "credit_note+invoice": _("Envoi de factures et de notes de crédit"),
    }


def batch_title(batch: MailBatch, objects: list[MailContext] | None = None) -> str:
    """What the batch is about, in the reader's language: "Déclarations TVA — 3e trimestre
    2026", "Envoi à une sélection de clients", "Envoi de notes de crédit" (invoices whose
    templates are credit notes'). `objects`: the batch's objects, when already resolved (their
    shared group names the period or the year)."""
    if objects is None:
        objects = services.batch_contexts(batch=batch)
    name = batch.context or CLIENT_CONTEXT
    titles = _titles()
    # What its objects are, when they say more than the context (credit notes among invoices).
    kinds = "+".join(sorted({item.templates for item in objects}))
    if kinds != name and kinds in titles:
        name = kinds
    title = titles.get(name)
    if title is None:
        try:
            label = str(MailTemplate.Context(name).label)
        except ValueError:
            label = name
        title = _("Envoi groupé — %(context)s") % {"context": label}
    groups: list[str] = []
    for item in objects:
        group = str(item.group or "")
        if group and group not in groups:
            groups.append(group)
    if not groups:
        return title
    shown = ", ".join(groups[:3]) + (" …" if len(groups) > 3 else "")
    return _("%(title)s — %(groups)s") % {"title": title, "groups": shown}


def _id(value: object) -> int | None:
    return id_from(value if isinstance(value, int) else str(value))


def _blocked(batch: MailBatch, objects: dict[int, MailContext]) -> list[dict[str, Any]]:
    """The clients (or objects) nothing was sent to, with the reasons."""
    clients = {client.pk: client for client in selectors.batch_clients(batch=batch)}
    rows = []
    for raw_pk, reasons in (batch.blocked or {}).items():
        pk = _id(raw_pk)
        about = objects.get(pk) if pk is not None else None
        client = about.client if about is not None else None
        if about is None and not objects and pk is not None:
            client = clients.get(pk)
        rows.append(
            {
                "client": client,
                "label": about.label if about is not None else "",
                # Stored as Texts (plain strings in older batches): in the reader's language.
                "reasons": render_all(reasons if isinstance(reasons, list) else [reasons]),
            }
        )
    return rows


def _rows(
    messages: list[OutboundMessage], objects: dict[int, MailContext], user: Collaborator
) -> list[dict[str, Any]]:
    labels = _outcome_labels()
    rows = []
    for message in messages:
        outcome = selectors.outcome_of(message.status, message.delivery_status)
        about = objects.get(message.object_id) if message.object_id is not None else None
        rows.append(
            {
                "m": message,
                "outcome": outcome,
                "label": labels.get(outcome, outcome),
                "about": about.label if about is not None else "",
                "fix_url": profiles.settings_url(message.profile, viewer=user)
                if message.status == Status.HELD
                else "",
            }
        )
    return rows


def _poll_seconds(composing: bool, counts: dict[str, int], scheduled: int) -> int | None:
    """Every 2 s while something moves by itself; every 30 s while mails only wait (a profile
    to fix, a scheduled time); never once every message is settled."""
    moving = counts.get("sending", 0) + counts.get("retry", 0)
    moving += counts.get("queued", 0) - scheduled
    if composing or moving > 0:
        return POLL_MOVING
    if counts.get("held", 0) or scheduled:
        return POLL_WAITING
    return None


def _heading(batch: MailBatch, composing: bool, poll: int | None, counts: dict[str, int]) -> str:
    if batch.state == MailBatch.State.FAILED and not composing:
        return _("Envoi interrompu")
    if composing:
        return _("Préparation des mails…")
    if poll == POLL_MOVING:
        return _("Envoi en cours…")
    if counts.get("held"):
        return _("Des mails attendent que le paramétrage d'envoi soit corrigé")
    if poll == POLL_WAITING:
        return _("Envoi programmé")
    return _("Envoi terminé")


def batch_page_context(request: HttpRequest, batch: MailBatch) -> dict[str, Any]:
    user = cast(Collaborator, request.user)
    found = services.batch_contexts(batch=batch)
    objects = {item.object_id: item for item in found if item.object_id is not None}
    composing = batch.state in (MailBatch.State.PENDING, MailBatch.State.COMPOSING)
    counts = selectors.batch_outcomes(batch=batch)
    scheduled_count = selectors.batch_waiting_for_schedule(batch=batch)
    poll = _poll_seconds(composing, counts, scheduled_count)
    blocked = _blocked(batch, objects)
    total = batch.total or len(batch.client_ids)
    made = sum(counts.values())
    settled = sum(n for key, n in counts.items() if key in selectors.SETTLED) + len(blocked)
    subjects = selectors.batch_subjects(batch=batch)
    options = batch.options or {}
    messages = selectors.batch_messages(batch=batch, limit=MESSAGE_ROWS)
    return {
        "batch": batch,
        "title": batch_title(batch, found),
        "subject": subjects[0] if len(subjects) == 1 else "",
        "subjects_differ": len(subjects) > 1,
        "heading": _heading(batch, composing, poll, counts),
        "composing": composing,
        "poll": poll,
        "settled": poll is None,
        "total": total,
        "prepared": min(made + len(blocked), total),
        "done_count": min(settled, total),
        "counts": [(key, label, counts.get(key, 0)) for key, label in _count_labels()],
        "blocked": blocked,
        "rows": _rows(messages, objects, user),
        "more": max(0, made - len(messages)),
        "about_objects": bool(objects) or batch.context not in ("", CLIENT_CONTEXT),
        "scheduled_at": _parse_iso(str(options.get("scheduled_at") or "")),
        "archive": options.get("archive", True),
        "next_url": _safe_stored_next(request, str(options.get("next") or "")),
    }


@login_required
@require_GET
def batch_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """A send to several clients: the making of its mails, then each mail's outcome; the page
    asks again by itself until every message is settled."""
    batch = selectors.batch_get(pk=pk, user=cast(Collaborator, request.user))
    if batch is None:
        raise Http404(_("Cet envoi groupé n'existe pas."))
    context = batch_page_context(request, batch)
    partial = bool(getattr(request, "htmx", False))
    template = "mailing/_batch_progress.html" if partial else "mailing/batch_progress.html"
    return render(request, template, context)


def _safe_stored_next(request: HttpRequest, target: str) -> str:
    return next_url(request, target, fallback="")


def _parse_iso(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return timezone.localtime(parsed, BRUSSELS) if parsed and timezone.is_aware(parsed) else None
