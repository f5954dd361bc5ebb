"""The archive and the outbox: one message's page, its .eml, cancelling or retrying it, the
outbox, the undelivered list and the re-send of a copy.

Who sees what is `selectors.messages_visible`: a firm shares its client files, so every
collaborator opens the archived messages of every client (its page, its .eml, each attachment
downloaded on its own, read from the stored bytes so the file is the one the client received);
a message not archived, and a secure link's code mail, are their sender's and the
administrators' alone, and answer "not found" to anyone else. A code mail's code is dotted
out on its page and in its .eml for everyone (`selectors.message_shown`). Only the message's
sender or an administrator may cancel or retry it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from courrier.firm.models import Collaborator
from courrier.firm.permissions import is_firm_admin
from courrier.mailing import selectors, services
from courrier.mailing.exceptions import MailingError
from courrier.mailing.models import DeliveryStatus, OutboundMessage
from courrier.mailing.services import profiles, resend, store
from courrier.mailing.views.batches import batch_title
from courrier.mailing.views.common import HtmxHttpRequest, Status, _int_param, _safe_next, _user

OUTBOX_ROWS = 200
CANCELLABLE = {Status.QUEUED, Status.RETRY, Status.HELD, Status.UNCERTAIN}
RETRYABLE = {Status.FAILED, Status.UNCERTAIN}


def _status_meanings() -> dict[str, str]:
    return {
        Status.QUEUED: _("Le message attend son tour : il part dans quelques instants."),
        Status.SENDING: _("Le message est en train d'être remis au serveur d'envoi."),
        Status.SENT: _("Le serveur d'envoi a accepté le message."),
        Status.RETRY: _(
            "Le serveur n'a pas pu le prendre pour l'instant ; un nouvel essai est prévu."
        ),
        Status.HELD: _(
            "Le paramétrage d'envoi est à corriger (par exemple un mot de passe refusé). "
            "Le message repartira dès qu'il sera corrigé."
        ),
        Status.FAILED: _("Le message n'a pas pu être envoyé ; la raison est indiquée ci-dessous."),
        Status.CANCELLED: _("Le message a été annulé : il ne partira pas."),
        Status.UNCERTAIN: _(
            "L'envoi a été interrompu : le message est peut-être parti. Il n'est jamais renvoyé "
            "automatiquement ; vérifiez chez le destinataire puis renvoyez-le ou annulez-le."
        ),
    }


# --- Messages -------------------------------------------------------------------------------


def _message_or_404(request: HttpRequest, pk: int) -> OutboundMessage:
    message = selectors.message_get(pk=pk, user=request.user)
    if message is None:
        raise Http404(_("Ce message n'existe pas."))
    return message


def _shown_bytes(message: OutboundMessage) -> bytes:
    return selectors.message_shown(message=message, raw=services.message_bytes(message))


def _may_act_on(user: Collaborator, message: OutboundMessage) -> bool:
    return is_firm_admin(user) or (message.sender_id is not None and message.sender_id == user.pk)


@login_required
@require_GET
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    message = _message_or_404(request, pk)
    may_act = _may_act_on(user, message)
    original_pk = resend.resend_of_pk(message.purpose)
    context = {
        "mail": message,
        "meaning": _status_meanings().get(message.status, ""),
        "fix_url": _fix_url(message, user) if message.status == Status.HELD else "",
        "resend_of": original_pk,
        "resend_refusal": resend.resend_refusal(message) if may_act else "",
        "can_resend": may_act and _undelivered(message) and not resend.resend_refusal(message),
        "resent": store.message_for_key(f"resend-of:{message.pk}"),
        "parsed": selectors.message_parse(raw=_shown_bytes(message)),
        "attempts": list(message.attempts_log.all()),
        "can_cancel": may_act and message.status in CANCELLABLE,
        "can_retry": may_act and message.status in RETRYABLE,
    }
    return render(request, "mailing/message_detail.html", context)


def eml_filename(message: OutboundMessage) -> str:
    """`2026-11-27_1430-rappel-tva.eml`: the date, then the subject with only safe characters."""
    when = timezone.localtime(message.created_at) if message.created_at else timezone.localtime()
    subject = slugify(message.subject)[:60].strip("-") or "message"
    return f"{when:%Y-%m-%d_%H%M}-{subject}.eml"


@login_required
@require_GET
def message_eml(request: HttpRequest, pk: int) -> HttpResponse:
    """The stored bytes, exactly as they left (or will leave)."""
    message = _message_or_404(request, pk)
    response = HttpResponse(_shown_bytes(message), content_type="message/rfc822")
    disposition = content_disposition_header(as_attachment=True, filename=eml_filename(message))
    if disposition:
        response["Content-Disposition"] = disposition
    return response


def _message_action(request: HttpRequest, pk: int, *, action: str) -> HttpResponseRedirect:
    user = _user(request)
    message = _message_or_404(request, pk)
    if not _may_act_on(user, message):
        raise PermissionDenied(
            _(
                "Seuls l'expéditeur du message et les administrateurs peuvent l'annuler "
                "ou le renvoyer."
            )
        )
    try:
        if action == "cancel":
            services.message_cancel(message=message, by=user)
            messages.success(request, _("Le message est annulé : il ne partira pas."))
        else:
            services.message_retry(message=message, by=user)
            messages.success(request, _("Le message est remis en file d'attente."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except MailingError as exc:
        messages.error(request, exc.user_message)
    default = reverse("mailing:message_detail", args=[message.pk])
    return HttpResponseRedirect(_safe_next(request, default))


@login_required
@require_POST
def message_cancel_view(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    return _message_action(request, pk, action="cancel")


@login_required
@require_POST
def message_retry_view(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    return _message_action(request, pk, action="retry")


# --- Outbox ---------------------------------------------------------------------------------


def _fix_url(message: OutboundMessage, user: Collaborator) -> str:
    """Where the profile that holds a message is corrected ("" when `user` may not)."""
    return profiles.settings_url(message.profile, viewer=user)


@login_required
@require_GET
def outbox(request: HtmxHttpRequest) -> HttpResponse:
    """Messages not yet settled; with ?batch=<pk>, every message of one send to a selection,
    to follow its delivery as it happens."""
    user = _user(request)
    status = request.GET.get("status") or ""
    batch = None
    if request.GET.get("batch"):
        batch_pk = _int_param(request.GET.get("batch"))
        batch = selectors.batch_get(pk=batch_pk, user=user) if batch_pk is not None else None
        if batch is None:
            raise Http404(_("Cet envoi groupé n'existe pas."))
    statuses = [choice for choice in Status.values] if batch else list(selectors.OUTBOX_STATUSES)
    if status not in statuses:
        status = ""
    rows = list(
        selectors.outbox_messages(user=user, status=status or None, batch=batch)[:OUTBOX_ROWS]
    )
    context = {
        "rows": [(m, _fix_url(m, user) if m.status == Status.HELD else "") for m in rows],
        "status": status,
        "statuses": [(s, Status(s).label) for s in statuses],
        "everyone": is_firm_admin(user),
        "batch": batch,
    }
    if batch is not None:
        template = "mailing/_batch_outbox.html" if request.htmx else "mailing/batch_outbox.html"
        context["counts"] = selectors.batch_status_counts(batch=batch)
        if not request.htmx:  # the polled part has no title: its objects are not read again
            context["title"] = batch_title(batch)
    else:
        template = "mailing/_outbox_table.html" if request.htmx else "mailing/outbox.html"
    return render(request, template, context)


# --- Undelivered ----------------------------------------------------------------------------

UNDELIVERED_PER_PAGE = 50


def _undelivered(message: OutboundMessage) -> bool:
    return message.status == Status.FAILED or message.delivery_status in resend.UNDELIVERED_EVENTS


def _undelivered_kinds() -> list[tuple[str, str]]:
    return [
        (DeliveryStatus.BOUNCED, _("rejetés (bounce)")),
        (DeliveryStatus.DROPPED, _("abandonnés par le fournisseur")),
        (DeliveryStatus.COMPLAINED, _("signalés comme spam")),
        (Status.FAILED, _("échecs d'envoi")),
    ]


@login_required
@require_GET
def undelivered(request: HttpRequest) -> HttpResponse:
    """Mail that did not reach its client, with the reason and a way to send it again."""
    user = _user(request)
    kinds = _undelivered_kinds()
    kind = request.GET.get("kind") or ""
    if kind not in {value for value, _label in kinds}:
        kind = ""
    search = (request.GET.get("q") or "").strip()[:100]
    rows = resend.undelivered_messages(user=user, kind=kind, search=search)
    page = Paginator(rows, UNDELIVERED_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page_obj": page,
        "rows": [
            {
                "mail": message,
                "reason": message.delivery_detail or message.last_error,
                "refusal": resend.resend_refusal(message),
                "may_act": _may_act_on(user, message),
            }
            for message in page.object_list
        ],
        "kinds": kinds,
        "kind": kind,
        "q": search,
        "everyone": is_firm_admin(user),
    }
    return render(request, "mailing/undelivered.html", context)


@login_required
@require_POST
def message_resend_view(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    """Queue a copy of an undelivered message to the client's current addresses."""
    user = _user(request)
    message = _message_or_404(request, pk)
    if not _may_act_on(user, message):
        raise PermissionDenied(
            _("Seuls l'expéditeur du message et les administrateurs peuvent le renvoyer.")
        )
    default = reverse("mailing:undelivered")
    try:
        copy = resend.message_resend(message=message, by=user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return HttpResponseRedirect(_safe_next(request, default))
    if copy.status == Status.HELD:
        messages.warning(
            request,
            _(
                "La copie à %(to)s attend que le paramétrage d'envoi soit corrigé : elle partira "
                "ensuite."
            )
            % {"to": ", ".join(copy.to)},
        )
    else:
        messages.success(
            request,
            _("Le message est renvoyé à %(to)s : il part dans quelques instants.")
            % {"to": ", ".join(copy.to)},
        )
    return HttpResponseRedirect(_safe_next(request, default))


@login_required
@require_GET
def message_attachment_view(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    """Attachment number `index` (from 0, in the order the message page lists them)."""
    message = _message_or_404(request, pk)
    part = selectors.message_attachment(raw=_shown_bytes(message), index=index)
    if part is None:
        raise Http404(_("Ce message n'a pas cette pièce jointe."))
    name = part.name or _("piece-jointe-%(number)s") % {"number": index + 1}
    # Always a download, never shown inline: an HTML or SVG file from a mail must not run in
    # the application's pages.
    response = HttpResponse(part.content, content_type=part.content_type)
    disposition = content_disposition_header(as_attachment=True, filename=name)
    if disposition:
        response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    return response
