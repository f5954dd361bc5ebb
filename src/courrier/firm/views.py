"""The firm's administration pages: settings, billing companies, collaborators. Admins only."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.messages.views import SuccessMessageMixin
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import translation
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from django.views.generic import CreateView, FormView, ListView, UpdateView

from courrier.audit import (
    ACTIONS,
    AuditFilters,
    audit_entries,
    entry_action,
    entry_changes,
    entry_detail,
    entry_object,
)
from courrier.firm.forms import (
    BillingCompanyForm,
    CollaboratorPasswordResetForm,
    CollaboratorRoleForm,
    FirmSettingsForm,
)
from courrier.firm.lockout import collaborator_unlock, locked_out_emails
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.firm.permissions import AdminRequiredMixin, admin_required
from courrier.firm.tasks import password_reset_mail
from courrier.mailing.models import SendingProfile


class FirmSettingsView(AdminRequiredMixin, SuccessMessageMixin, UpdateView):  # type: ignore[type-arg]
    form_class = FirmSettingsForm
    template_name = "firm/settings.html"
    success_url = reverse_lazy("firm:settings")
    success_message = _("Les paramètres du cabinet ont été enregistrés.")

    def get_object(self, queryset: QuerySet[Firm] | None = None) -> Firm:
        return Firm.load()


class BillingCompanyListView(AdminRequiredMixin, ListView):  # type: ignore[type-arg]
    template_name = "firm/company_list.html"
    context_object_name = "companies"

    def get_queryset(self) -> QuerySet[BillingCompany]:
        # Subqueries rather than select_related: the profile row holds an encrypted secret that
        # this list neither needs nor should decrypt.
        profile = SendingProfile.objects.filter(billing_company=OuterRef("pk"))
        return BillingCompany.objects.annotate(
            profile_pk=Subquery(profile.values("pk")[:1]),
            profile_state=Subquery(profile.values("state")[:1]),
            client_count=Count("clients", distinct=True),
        ).order_by("name", "pk")


class BillingCompanyCreateView(AdminRequiredMixin, SuccessMessageMixin, CreateView):  # type: ignore[type-arg]
    model = BillingCompany
    form_class = BillingCompanyForm
    template_name = "firm/company_form.html"
    success_url = reverse_lazy("firm:companies")
    success_message = _("La société facturante « %(name)s » a été créée.")


class BillingCompanyUpdateView(AdminRequiredMixin, SuccessMessageMixin, UpdateView):  # type: ignore[type-arg]
    model = BillingCompany
    form_class = BillingCompanyForm
    template_name = "firm/company_form.html"
    success_url = reverse_lazy("firm:companies")
    success_message = _("La société facturante « %(name)s » a été enregistrée.")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # values(): the state is all this page shows; the row's secret stays encrypted.
        context["profile"] = (
            SendingProfile.objects.filter(billing_company=self.object)
            .values("pk", "state", "state_reason")
            .first()
        )
        return context


class CollaboratorListView(AdminRequiredMixin, ListView):  # type: ignore[type-arg]
    template_name = "firm/collaborator_list.html"
    context_object_name = "collaborators"

    def get_queryset(self) -> QuerySet[Collaborator]:
        profile = SendingProfile.objects.filter(collaborator=OuterRef("pk"))
        return Collaborator.objects.annotate(
            profile_pk=Subquery(profile.values("pk")[:1]),
            profile_state=Subquery(profile.values("state")[:1]),
        ).order_by("-is_active", "last_name", "first_name", "email")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        locked = locked_out_emails()
        for collaborator in context["collaborators"]:
            collaborator.locked_out = collaborator.email.lower() in locked
        return context


class CollaboratorUpdateView(AdminRequiredMixin, UpdateView):  # type: ignore[type-arg]
    model = Collaborator
    form_class = CollaboratorRoleForm
    template_name = "firm/collaborator_form.html"
    context_object_name = "collaborator"
    success_url = reverse_lazy("firm:collaborators")

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["acting_user"] = self.request.user
        return kwargs

    def form_valid(self, form: CollaboratorRoleForm) -> Any:
        response = super().form_valid(form)
        messages.success(
            self.request,
            _("La fiche de %(name)s a été enregistrée.") % {"name": self.object},
        )
        return response


AUDIT_ROWS = 50


class AuditFilterForm(forms.Form):
    """The audit page's filters: who, what, from and to which day; bad values are ignored."""

    actor = forms.ModelChoiceField(
        label=_("Qui"),
        queryset=Collaborator.objects.order_by("last_name", "first_name", "email"),
        required=False,
        empty_label=_("Tout le monde"),
    )
    what = forms.ChoiceField(label=_("Quoi"), required=False)
    since = forms.DateField(
        label=_("Du"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("Au"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings_choices = [
            ("firm", _("Paramètres du cabinet")),
            ("company", _("Sociétés facturantes")),
            ("collaborator", _("Collaborateurs et rôles")),
            ("profile", _("Paramétrages d'envoi")),
        ]
        cast(forms.ChoiceField, self.fields["what"]).choices = [
            ("", _("Tout")),
            (_("Paramètres"), settings_choices),
            (_("Actions"), [(key, label) for key, label in ACTIONS.items()]),
        ]

    def filters(self) -> AuditFilters:
        if not self.is_valid():
            return AuditFilters()
        data = self.cleaned_data
        return AuditFilters(
            actor=data["actor"].pk if data.get("actor") else None,
            what=data.get("what") or "",
            since=data.get("since"),
            until=data.get("until"),
        )


@admin_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """Who changed the settings and who sent, cancelled, re-sent, issued or revoked what."""
    form = AuditFilterForm(request.GET or None)
    page = Paginator(audit_entries(filters=form.filters()), AUDIT_ROWS).get_page(
        request.GET.get("page")
    )
    rows = [
        {
            "entry": entry,
            "action": entry_action(entry),
            "object": entry_object(entry),
            "changes": entry_changes(entry),
            "detail": entry_detail(entry),
        }
        for entry in page.object_list
    ]
    return render(request, "firm/audit.html", {"form": form, "rows": rows, "page_obj": page})


@require_POST
@admin_required
def collaborator_unlock_view(request: HttpRequest, pk: int) -> HttpResponse:
    """An administrator lets a collaborator whose logins were blocked log in again at once."""
    collaborator = get_object_or_404(Collaborator, pk=pk)
    collaborator_unlock(collaborator=collaborator)
    messages.success(
        request,
        _("%(name)s peut de nouveau se connecter.") % {"name": collaborator},
    )
    return redirect("firm:collaborators")


class CollaboratorPasswordSetView(AdminRequiredMixin, FormView):  # type: ignore[type-arg]
    """An administrator sets a colleague's password (to hand it over another way); the
    colleague's other sessions end, and a lock on the account is lifted."""

    form_class = AdminPasswordChangeForm
    template_name = "firm/collaborator_password.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        self.collaborator = get_object_or_404(Collaborator, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.collaborator
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["collaborator"] = self.collaborator
        return context

    def form_valid(self, form: AdminPasswordChangeForm) -> HttpResponse:
        form.save()
        collaborator_unlock(collaborator=self.collaborator)
        if self.collaborator.pk == self.request.user.pk:
            update_session_auth_hash(self.request, self.collaborator)
        messages.success(
            self.request,
            _("Le mot de passe de %(name)s a été enregistré.") % {"name": self.collaborator},
        )
        return HttpResponseRedirect(reverse("firm:collaborators"))


class PasswordResetRequestView(auth_views.PasswordResetView):
    """The "Mot de passe oublié" page: the same answer, in the same time, whether the address
    is known or not; the worker sends the mail through the firm's sending profile, its link on
    the public address when one is set."""

    form_class = CollaboratorPasswordResetForm

    def form_valid(self, form: CollaboratorPasswordResetForm) -> HttpResponse:
        base = settings.PUBLIC_URL or f"{self.request.scheme}://{self.request.get_host()}"
        # Enqueued whatever the address: the answer takes the same time for every address.
        password_reset_mail.enqueue(form.cleaned_data["email"], base)
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The link of the reset mail: a new password, and the account's lock lifted (whoever
    holds the mailbox has proved who they are). A valid link speaks the language of the mail,
    its collaborator's, whatever browser opens it, and leaves that language for the pages
    that follow (the language cookie of the login page's switch); a language picked with that
    switch, on this page or before, wins."""

    @method_decorator(login_not_required)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) in dict(settings.LANGUAGES)
        self.link_language = (
            None if chosen else self._link_language(kwargs.get("uidb64", ""), kwargs.get("token"))
        )
        if self.link_language:
            translation.activate(self.link_language)
            request.LANGUAGE_CODE = self.link_language
        return cast(HttpResponse, super().dispatch(request, *args, **kwargs))

    def _link_language(self, uidb64: str, token: str | None) -> str | None:
        """The interface language of the link's collaborator, when the link is good."""
        user = self.get_user(uidb64)
        if token == self.reset_url_token:
            token = self.request.session.get(auth_views.INTERNAL_RESET_SESSION_TOKEN)
        if user is None or not token or not self.token_generator.check_token(user, token):
            return None
        language = str(getattr(user, "language", "") or "")
        return language if language in dict(settings.LANGUAGES) else None

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        collaborator_unlock(collaborator=form.user)
        if self.link_language:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                self.link_language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        return response
