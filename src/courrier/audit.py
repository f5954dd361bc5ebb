"""The audit log: who changed the firm's settings, and who sent, cancelled, re-sent, issued or
revoked what, read by administrators (`firm:audit`, and Django admin's log entries).

Two kinds of entries share auditlog's `LogEntry` table:

- changes to the settings rows (the firm, billing companies, sending profiles, collaborators
  and their roles), written by auditlog's signals once `audit_register` has registered them.
  A secret never reaches the log: a profile's encrypted fields are masked to "********"
  (`secret_mask`), the tokens that a provider rotates on its own are not followed at all;
- actions, one entry each (`audit_record`), written by the services that do them through the
  `audited` decorator: the actor is the service's `by` or `sender` argument, else the request's
  user (auditlog's middleware) or the one a command named with `auditlog.context.set_actor`
  (auditlog fills it in while its context lasts: never a stale one from an earlier request).

An entry names its object neutrally ("message 42", "facture 2026/0042"): no subject, address or
client name, so that erasing a client's data leaves nothing of it here.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from auditlog.models import LogEntry

logger = logging.getLogger(__name__)

SECRET_MASK = "********"  # noqa: S105 (what a secret is shown as, not one)

# What each action is called on the audit page; its key is stored in the entry.
ACTIONS: dict[str, Any] = {
    "message_sent": _("Mail envoyé"),
    "message_cancelled": _("Mail annulé"),
    "message_retried": _("Mail renvoyé après un échec"),
    "message_resent": _("Copie d'un mail renvoyée"),
    "batch_sent": _("Envoi groupé lancé"),
    "invoice_issued": _("Facture émise"),
    "invoice_resent": _("Facture renvoyée"),
    "link_revoked": _("Lien sécurisé révoqué"),
    "client_exported": _("Données d'un client exportées"),
    "client_erased": _("Données d'un client effacées"),
    "data_purged": _("Données anciennes supprimées"),
}

# Fields a provider or the outbox changes on its own (tokens refreshed, a profile held after a
# refused password, a login): not a person's change of settings.
_PROFILE_AUTOMATIC = [
    "oauth_refresh_token",
    "oauth_access_token",
    "oauth_expires_at",
    "oauth_token_cache",
    "oauth_scopes",
    "oauth_connected_at",
    "state",
    "state_reason",
    "updated_at",
]


def secret_mask(value: str) -> str:
    """What the log keeps of a secret: whether there is one, never any of its characters
    (auditlog's own mask keeps the second half of the value)."""
    return SECRET_MASK if value and value != "None" else ""


UNREADABLE = "(unreadable)"


def _profile_changed(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """auditlog's own `log_update` for a sending profile, with two differences: the stored row
    is read one secret at a time, so that a secret no key can read any more (a lost key, typed
    again) counts as changed instead of failing the save; and fields the instance did not load
    (pages defer the secrets) are not compared, as Django does not write them."""
    from auditlog.models import LogEntry
    from auditlog.receivers import _create_log_entry
    from django.conf import settings

    from courrier.crypto import SecretUnreadable
    from courrier.mailing.models import PROFILE_SECRET_FIELDS

    if instance._state.adding or instance.pk is None:
        return
    old = sender._default_manager.defer(*PROFILE_SECRET_FIELDS).filter(pk=instance.pk).first()
    deferred = instance.get_deferred_fields()
    fields = [
        name
        for name in kwargs.get("update_fields")
        or [field.name for field in sender._meta.concrete_fields if field.attname not in deferred]
        if name not in _PROFILE_AUTOMATIC
    ]
    if old is None or not fields:
        return
    for name in PROFILE_SECRET_FIELDS:
        if name in fields:
            try:
                old.refresh_from_db(fields=[name])
            except SecretUnreadable:
                setattr(old, name, UNREADABLE)
    _create_log_entry(
        action=LogEntry.Action.UPDATE,
        instance=instance,
        sender=sender,
        diff_old=old,
        diff_new=instance,
        fields_to_check=fields,
        use_json_for_changes=getattr(settings, "AUDITLOG_STORE_JSON_CHANGES", False),
    )


def audit_register() -> None:
    """Follow the settings rows with auditlog (called once, when the apps are ready)."""
    from auditlog.receivers import check_disable, log_update
    from auditlog.registry import auditlog
    from django.db.models.signals import pre_save

    from courrier.firm.models import BillingCompany, Collaborator, Firm
    from courrier.mailing.models import PROFILE_SECRET_FIELDS, SendingProfile

    mask = "courrier.audit.secret_mask"
    auditlog.register(Firm)
    auditlog.register(BillingCompany)
    auditlog.register(
        Collaborator,
        # The password's hash is no one's business; a login is not a change of settings.
        exclude_fields=["password", "last_login", "password_reset_sent_at"],
    )
    auditlog.register(
        SendingProfile,
        exclude_fields=list(_PROFILE_AUTOMATIC),
        mask_fields=[name for name in PROFILE_SECRET_FIELDS if name not in _PROFILE_AUTOMATIC],
        mask_callable=mask,
    )
    # A profile's changes go through `_profile_changed` rather than auditlog's receiver.
    pre_save.disconnect(
        sender=SendingProfile, dispatch_uid=auditlog._dispatch_uid(pre_save, log_update)
    )
    pre_save.connect(
        check_disable(_profile_changed), sender=SendingProfile, weak=False, dispatch_uid="audit"
    )


def object_label(obj: models.Model) -> str:
    """A neutral name for an object: its kind and its number, nothing personal."""
    kind = str(obj._meta.verbose_name)
    number = getattr(obj, "display_number", None) or getattr(obj, "number", None) or obj.pk
    return f"{kind} {number}"


def _facts(obj: models.Model) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    client_id = getattr(obj, "client_id", None)
    if client_id is not None:
        facts["client"] = client_id
    total = getattr(obj, "total", None)
    if isinstance(total, int):
        facts["total"] = total
    return facts


def audit_record(
    *,
    action: str,
    obj: models.Model,
    actor: Any = None,
    detail: Mapping[str, Any] | None = None,
) -> LogEntry:
    """Write one entry: `action` (a key of ACTIONS) done on `obj` by `actor`, with `detail`
    (counts, ids: never personal data). Without `actor`, auditlog names the user of the request
    being served (its middleware) or the one a command gave to `auditlog.context.set_actor`,
    with the remote address; outside both, the entry has no actor (done by the system)."""
    from auditlog.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_pk=str(obj.pk),
        object_id=obj.pk if isinstance(obj.pk, int) else None,
        object_repr=object_label(obj),
        action=LogEntry.Action.UPDATE,
        changes=None,
        actor=actor,
        actor_email=getattr(actor, "email", None),
        additional_data={"action": action, **_facts(obj), **dict(detail or {})},
    )


P = ParamSpec("P")
R = TypeVar("R")


def audited(action: str, *, on: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Record `action` each time the decorated service returns: on its result (the first
    model of a tuple) or, with `on`, on its keyword argument of that name; by its `by` or
    `sender` argument, else the current actor. A service that raises records nothing."""

    def decorate(service: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(service)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            result = service(*args, **kwargs)
            target: Any = kwargs.get(on) if on else result
            if isinstance(target, tuple):
                target = next((item for item in target if isinstance(item, models.Model)), None)
            if isinstance(target, models.Model) and target.pk is not None:
                actor = kwargs.get("by") or kwargs.get("sender")
                audit_record(action=action, obj=target, actor=actor)
            return result

        return wrapper

    return decorate


# -- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    """What the audit page narrows the entries to (each empty: no narrowing)."""

    actor: int | None = None
    what: str = ""
    since: date | None = None
    until: date | None = None


# The "what" filter: settings changes by kind of row, or one of the actions.
SETTINGS_KINDS: dict[str, tuple[str, str]] = {
    "firm": ("firm", "firm"),
    "company": ("firm", "billingcompany"),
    "collaborator": ("firm", "collaborator"),
    "profile": ("mailing", "sendingprofile"),
}


def audit_entries(*, filters: AuditFilters) -> QuerySet[LogEntry]:
    """The entries, newest first, narrowed by `filters`."""
    from auditlog.models import LogEntry

    entries = LogEntry.objects.select_related("actor", "content_type").order_by("-timestamp", "-pk")
    if filters.actor is not None:
        entries = entries.filter(actor_id=filters.actor)
    if filters.what in SETTINGS_KINDS:
        app_label, model = SETTINGS_KINDS[filters.what]
        entries = entries.filter(
            content_type__app_label=app_label, content_type__model=model
        ).filter(Q(additional_data__isnull=True) | ~Q(additional_data__has_key="action"))
    elif filters.what in ACTIONS:
        entries = entries.filter(additional_data__action=filters.what)
    tz = timezone.get_current_timezone()
    if filters.since is not None:
        entries = entries.filter(timestamp__gte=datetime.combine(filters.since, time.min, tz))
    if filters.until is not None:
        until = datetime.combine(filters.until + timedelta(days=1), time.min, tz)
        entries = entries.filter(timestamp__lt=until)
    return entries


def entry_action(entry: LogEntry) -> str:
    """What an entry says was done, in the reader's language."""
    from auditlog.models import LogEntry

    data = entry.additional_data if isinstance(entry.additional_data, dict) else {}
    if data.get("action") in ACTIONS:
        return str(ACTIONS[data["action"]])
    return str(
        {
            LogEntry.Action.CREATE: _("Créé"),
            LogEntry.Action.UPDATE: _("Modifié"),
            LogEntry.Action.DELETE: _("Supprimé"),
        }.get(entry.action, _("Consulté"))
    )


# The facts an action entry keeps, named in the reader's language.
DETAIL_LABELS: dict[str, Any] = {
    "client": _("client (identifiant)"),
    "total": _("destinataires"),
    "files": _("fichiers"),
    "mails": _("mails"),
    "invoice_mails": _("mails de factures réduits à la preuve d'envoi"),
    "documents": _("documents"),
    "links": _("liens sécurisés"),
    "addresses": _("adresses e-mail"),
    "drafts": _("factures en brouillon"),
    "invoices_kept": _("factures émises conservées"),
}


def entry_detail(entry: LogEntry) -> list[tuple[str, str]]:
    """The facts of an action entry: (name in the reader's language, value)."""
    data = entry.additional_data if isinstance(entry.additional_data, dict) else {}
    return [
        (str(DETAIL_LABELS.get(key, key)), str(value))
        for key, value in data.items()
        if key != "action"
    ]


def entry_object(entry: LogEntry) -> str:
    """What an entry is about, in the reader's language: an action's neutral name ("facture
    2026/0042", `object_label`) was written in its actor's language, its kind is said again in
    the reader's; a settings row keeps its own name."""
    from django.conf import settings

    text = str(entry.object_repr)
    data = entry.additional_data if isinstance(entry.additional_data, dict) else {}
    model = entry.content_type.model_class() if entry.content_type_id else None
    if model is None or "action" not in data:
        return text
    for language in dict(settings.LANGUAGES):
        with translation.override(language):
            written = f"{model._meta.verbose_name} "
        if text.startswith(written):
            return f"{model._meta.verbose_name} {text[len(written) :]}"
    return text


def _not_settings(model: type[models.Model] | None, names: Iterable[str]) -> set[str]:
    """The labels of what a row's creation lists beside its settings: its id and the rows that
    point at it (auditlog names them "messages: mailing.OutboundMessage.None")."""
    if model is None:
        return set()
    hidden: set[str] = set()
    for name in names:
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if not getattr(field, "concrete", False) or getattr(field, "primary_key", False):
            hidden.add(str(getattr(field, "verbose_name", name)))
    return hidden


def entry_changes(entry: LogEntry) -> list[tuple[str, str, str]]:
    """The changed fields of a settings entry: (field's name in the reader's language, before,
    after), choices by their label (auditlog's display); secrets as they were stored, masked."""
    if not isinstance(entry.changes, dict) or not entry.changes:
        return []
    model = entry.content_type.model_class() if entry.content_type_id else None
    shown = entry.changes_display_dict if model is not None else entry.changes
    hidden = _not_settings(model, entry.changes)
    rows: list[tuple[str, str, str]] = []
    for label, values in shown.items():
        if str(label) in hidden:
            continue
        if isinstance(values, list | tuple) and len(values) == 2:
            before, after = (str(value) if value is not None else "" for value in values)
        else:
            before, after = "", str(values)
        rows.append(
            (str(label), "" if before == "None" else before, "" if after == "None" else after)
        )
    return rows
