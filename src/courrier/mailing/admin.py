"""Technical administration of the mailing models.

Secrets never reach the page: the profile password is write-only and the column is deferred
(a row whose secret no longer decrypts still opens, so that a new password can be typed).
The outbox is the archive: read-only here; people act on messages from the outbox screen.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import BooleanField, Case, QuerySet, Value, When
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_tasks_db.models import DBTaskResult

from courrier.crypto import secrets_unreadable
from courrier.mailing import rendering, services
from courrier.mailing.fields import fields_for
from courrier.mailing.forms import SendingProfileForm
from courrier.mailing.models import (
    PROFILE_SECRET_FIELDS,
    BackgroundTask,
    DeliveryAttempt,
    MailTemplate,
    MailTemplateVersion,
    OutboundMessage,
    Phrase,
    PhraseVersion,
    ProfileTest,
    SendingProfile,
)
from courrier.mailing.selectors import messages_visible


class SendingProfileAdminForm(SendingProfileForm):
    class Meta(SendingProfileForm.Meta):
        fields = ["collaborator", "billing_company", *SendingProfileForm.Meta.fields]
        labels = {"collaborator": _("collaborateur"), "billing_company": _("société facturante")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        instance = kwargs.get("instance")
        has_password = bool(instance is not None and getattr(instance, "has_password", False))
        # The technical administration's people set the installation up: they read its settings.
        super().__init__(*args, has_password=has_password, installation_admin=True, **kwargs)


@admin.register(SendingProfile)
class SendingProfileAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = SendingProfileAdminForm
    list_display = ["owner_label", "method", "from_address", "smtp_host", "state"]
    list_filter = ["method", "state"]
    list_select_related = ["collaborator", "billing_company"]
    search_fields = ["from_address", "smtp_host", "collaborator__email", "billing_company__name"]
    readonly_fields = ["password_stored", "state_label", "state_detail", "last_change"]

    fieldsets = [
        (_("Propriétaire"), {"fields": ["collaborator", "billing_company"]}),
        (
            _("Serveur"),
            {
                "fields": [
                    "method",
                    "smtp_host",
                    "smtp_port",
                    "smtp_security",
                    "smtp_username",
                    "password_stored",
                    "password",
                    "clear_password",
                ]
            },
        ),
        (_("Expéditeur"), {"fields": ["from_name", "from_address", "reply_to"]}),
        (_("Envoi en nombre"), {"fields": ["max_connections"]}),
        (_("État"), {"fields": ["state_label", "state_detail", "last_change"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SendingProfile]:
        # Mail profiles only: a company's Peppol access point has its own page (its form knows
        # the Peppol methods; this one offers the mail methods only).
        return (
            super()
            .get_queryset(request)
            .filter(peppol_company__isnull=True)
            # Secrets are never read for a page: a row whose key was lost still opens.
            .defer(*PROFILE_SECRET_FIELDS)
            .annotate(
                has_password=Case(
                    When(smtp_password="", then=Value(False)),
                    default=Value(True),
                    output_field=BooleanField(),
                )
            )
        )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not getattr(obj, "has_password", False):
            # Nothing stored yet: nothing to clear (the form drops that field too).
            return [
                (name, {**opts, "fields": [f for f in opts["fields"] if f != "clear_password"]})
                for name, opts in fieldsets
            ]
        return fieldsets

    def save_model(
        self, request: HttpRequest, obj: SendingProfile, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        # Same as saving "Ma fiche": the profile is back in service and held messages resume.
        resumed = services.profile_updated(profile=obj)
        if resumed:
            self.message_user(
                request,
                ngettext(
                    "%(count)d message en attente repart.",
                    "%(count)d messages en attente repartent.",
                    resumed,
                )
                % {"count": resumed},
            )

    @admin.display(description=_("mot de passe enregistré"), boolean=True)
    def password_stored(self, obj: SendingProfile) -> bool:
        return bool(getattr(obj, "has_password", False))

    @admin.display(description=_("état"))
    def state_label(self, obj: SendingProfile) -> str:
        return str(obj.get_state_display())

    @admin.display(description=_("raison"))
    def state_detail(self, obj: SendingProfile) -> str:
        return services.profile_key_problem(profile=obj) or str(obj.state_reason) or "—"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        if request.method == "GET":
            rows = SendingProfile.objects.filter(peppol_company__isnull=True)
            if secrets_unreadable(rows, PROFILE_SECRET_FIELDS, rows=500):
                self.message_user(
                    request,
                    _(
                        "La clé de chiffrement de l'installation ne peut pas lire les secrets "
                        "de certains paramétrages : ouvrez-les pour savoir lesquels."
                    ),
                    level=messages.ERROR,
                )
        return super().changelist_view(request, extra_context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        if request.method == "GET":
            profile = self.get_object(request, object_id)
            problem = services.profile_key_problem(profile=profile) if profile else ""
            if problem:
                self.message_user(request, problem, level=messages.ERROR)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("modifié le"))
    def last_change(self, obj: SendingProfile) -> Any:
        return obj.updated_at


class MailTemplateVersionForm(forms.ModelForm):
    class Meta:
        model = MailTemplateVersion
        fields = ["language", "subject", "body"]

    def clean_body(self) -> str:
        return rendering.body_html(str(self.cleaned_data.get("body") or ""))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # The inline's parent, also when it is being created in the same request.
        template = cleaned.get("template") or getattr(self.instance, "template", None)
        context = getattr(template, "context", "")
        try:
            fields_for(context)
        except ValueError:
            return cleaned  # no catalogue for this context yet: nothing to check against
        for name in ("subject", "body"):
            text = cleaned.get(name)
            if not text:
                continue
            try:
                rendering.check_fields(str(text), context=context)
            except ValidationError as exc:
                self.add_error(name, exc)
        return cleaned


class MailTemplateVersionInline(admin.StackedInline):  # type: ignore[type-arg]
    model = MailTemplateVersion
    form = MailTemplateVersionForm
    extra = 0
    min_num = 1


@admin.register(MailTemplate)
class MailTemplateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "context", "owner", "shared", "languages", "updated_at"]
    list_filter = ["context", "shared"]
    search_fields = ["name", "versions__subject"]
    list_select_related = ["owner"]
    autocomplete_fields = ["owner"]
    inlines = [MailTemplateVersionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[MailTemplate]:
        return super().get_queryset(request).prefetch_related("versions")

    @admin.display(description=_("langues"))
    def languages(self, obj: MailTemplate) -> str:
        return ", ".join(sorted(version.language for version in obj.versions.all()))


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeliveryAttemptInline(admin.TabularInline):  # type: ignore[type-arg]
    model = DeliveryAttempt
    fields = ("started_at", "finished_at", "outcome", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PhraseVersionForm(forms.ModelForm):
    class Meta:
        model = PhraseVersion
        fields = ["language", "text"]

    def clean_text(self) -> str:
        return rendering.body_html(str(self.cleaned_data.get("text") or ""))


class PhraseVersionInline(admin.TabularInline):  # type: ignore[type-arg]
    model = PhraseVersion
    form = PhraseVersionForm
    extra = 0


@admin.register(Phrase)
class PhraseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "owner", "shared", "updated_at"]
    list_filter = ["shared"]
    search_fields = ["name", "versions__text"]
    inlines = [PhraseVersionInline]


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "status", "subject", "client", "sender", "sent_at", "attempts"]
    list_filter = ["status", "purpose", "archived", "language"]
    search_fields = ["subject", "message_id", "client__name", "client__number", "from_address"]
    list_select_related = ["client", "sender"]
    date_hierarchy = "created_at"
    inlines = [DeliveryAttemptInline]
    fields = (
        "status",
        "subject",
        "client",
        "sender",
        "profile",
        "purpose",
        "template",
        "language",
        "archived",
        "from_address",
        "to",
        "envelope_recipients",
        "message_id",
        "idempotency_key",
        "size",
        "eml",
        "attempts",
        "next_attempt_at",
        "lease_expires_at",
        "last_error",
        "provider_message_id",
        "created_at",
        "sent_at",
        "updated_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[OutboundMessage]:
        # The same rule as the application's pages: a staff account sees here only the
        # messages it may open there; the others answer "not found".
        visible = messages_visible(user=request.user).values("pk")
        return (
            super()
            .get_queryset(request)
            .filter(pk__in=visible)
            .select_related("profile")
            .defer("profile__smtp_password")
        )

    @admin.display(description=_("fichier .eml"))
    def eml(self, obj: OutboundMessage) -> str:
        try:
            url = reverse("mailing:message_eml", args=[obj.pk])
        except NoReverseMatch:
            return "—"
        return format_html('<a href="{}">{}</a>', url, _("Télécharger"))


@admin.register(ProfileTest)
class ProfileTestAdmin(ReadOnlyAdmin):
    list_display = ["at", "profile", "recipient", "success", "requested_by"]
    list_filter = ["success"]
    list_select_related = ["profile", "requested_by"]
    fields = ("at", "profile", "requested_by", "recipient", "success", "detail")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProfileTest]:
        return super().get_queryset(request).defer("profile__smtp_password")


# -- the task queue -----------------------------------------------------------------------------

# django-tasks' states, in words of ours (its own labels are English only).
TASK_STATES = {
    "READY": _("en attente"),
    "RUNNING": _("en cours"),
    "FAILED": _("échouée"),
    "SUCCESSFUL": _("terminée"),
}


class TaskStateFilter(admin.SimpleListFilter):
    title = _("état")
    parameter_name = "etat"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(TASK_STATES.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(status=value) if value else queryset


# The queue's own admin page speaks English only: this one replaces it.
if admin.site.is_registered(DBTaskResult):
    admin.site.unregister(DBTaskResult)


@admin.register(BackgroundTask)
class BackgroundTaskAdmin(ReadOnlyAdmin):
    list_display = ["task", "state", "enqueued", "started", "finished", "queue"]
    list_filter = [TaskStateFilter]
    ordering = ["-enqueued_at"]
    fields = (
        "task",
        "state",
        "queue",
        "priority_shown",
        "enqueued",
        "not_before",
        "started",
        "finished",
        "arguments",
        "result",
        "error",
        "error_trace",
    )
    readonly_fields = fields

    @admin.display(description=_("tâche"), ordering="task_path")
    def task(self, obj: BackgroundTask) -> str:
        return str(obj.task_path)

    @admin.display(description=_("état"), ordering="status")
    def state(self, obj: BackgroundTask) -> str:
        return str(TASK_STATES.get(obj.status, obj.status))

    @admin.display(description=_("file"), ordering="queue_name")
    def queue(self, obj: BackgroundTask) -> str:
        return str(obj.queue_name)

    @admin.display(description=_("priorité"), ordering="priority")
    def priority_shown(self, obj: BackgroundTask) -> int:
        return int(obj.priority)

    @admin.display(description=_("mise en file le"), ordering="enqueued_at")
    def enqueued(self, obj: BackgroundTask) -> Any:
        return obj.enqueued_at

    @admin.display(description=_("pas avant le"))
    def not_before(self, obj: BackgroundTask) -> Any:
        # django-tasks-db stores "as soon as possible" as the largest date.
        return obj.run_after if obj.run_after and obj.run_after.year < 9999 else None

    @admin.display(description=_("commencée le"), ordering="started_at")
    def started(self, obj: BackgroundTask) -> Any:
        return obj.started_at

    @admin.display(description=_("finie le"), ordering="finished_at")
    def finished(self, obj: BackgroundTask) -> Any:
        return obj.finished_at

    @admin.display(description=_("arguments"))
    def arguments(self, obj: BackgroundTask) -> str:
        return json.dumps(obj.args_kwargs, ensure_ascii=False)

    @admin.display(description=_("résultat"))
    def result(self, obj: BackgroundTask) -> str:
        return "" if obj.return_value is None else json.dumps(obj.return_value, ensure_ascii=False)

    @admin.display(description=_("erreur"))
    def error(self, obj: BackgroundTask) -> str:
        return str(obj.exception_class_path)

    @admin.display(description=_("trace de l'erreur"))
    def error_trace(self, obj: BackgroundTask) -> str:
        return format_html("<pre>{}</pre>", obj.traceback) if obj.traceback else ""
