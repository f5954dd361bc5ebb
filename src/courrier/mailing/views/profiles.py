"""The sending settings screens: "Ma fiche" (a collaborator's own sending profile and details),
a billing company's sending page, and the button that tests a profile."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from courrier.crypto import SecretUnreadable
from courrier.firm.models import BillingCompany, Collaborator
from courrier.firm.permissions import (
    admin_only,
    admin_required,
    can_manage_profile,
    installation_admin,
    is_firm_admin,
)
from courrier.mailing import advice, selectors, services
from courrier.mailing.exceptions import MailingError
from courrier.mailing.forms import CollaboratorDetailsForm, SendingProfileForm
from courrier.mailing.models import SendingProfile
from courrier.mailing.services import profiles
from courrier.mailing.views.common import HtmxHttpRequest, _int_param, _user
from courrier.texts import Text

# --- Sending settings: Ma fiche and the billing companies' page ----------------------------


def _profile_owner(request: HttpRequest) -> Collaborator:
    """Whose fiche: the user's own, or with ?collaborator=<pk> any one's, for an admin."""
    user = _user(request)
    raw = request.GET.get("collaborator") or request.POST.get("collaborator")
    if raw is None or raw == str(user.pk):
        return user
    pk = _int_param(raw)
    if pk is None:
        raise Http404(_("Collaborateur inconnu."))
    if not is_firm_admin(user):
        raise PermissionDenied(
            _("Seul un administrateur modifie la fiche d'un autre collaborateur.")
        )
    return get_object_or_404(Collaborator, pk=pk)


def _my_profile_url(owner: Collaborator, user: Collaborator) -> str:
    url = reverse("mailing:my_profile")
    return url if owner.pk == user.pk else f"{url}?collaborator={owner.pk}"


def _new_profile(owner: Collaborator) -> SendingProfile:
    return SendingProfile(
        collaborator=owner, from_address=owner.email, from_name=owner.get_full_name()
    )


def _new_company_profile(company: BillingCompany) -> SendingProfile:
    return SendingProfile(
        billing_company=company, from_address=company.email, from_name=company.name
    )


def _profile_form(
    request: HttpRequest, *, profile: SendingProfile | None, new: SendingProfile, company: bool
) -> SendingProfileForm:
    data = request.POST if request.method == "POST" and "save_profile" in request.POST else None
    return SendingProfileForm(
        data,
        instance=profile or new,
        prefix="profile",
        secrets=profiles.secrets_stored(profile),
        company=company,
        installation_admin=installation_admin(request.user),
    )


def _save_profile(request: HttpRequest, form: SendingProfileForm) -> None:
    with transaction.atomic():
        saved = form.save()
        resumed = profiles.profile_saved(profile=saved)
    text = _("Le paramétrage d'envoi est enregistré.")
    if resumed:
        text += " " + ngettext(
            "%(count)d message en attente repart.",
            "%(count)d messages en attente repartent.",
            resumed,
        ) % {"count": resumed}
    messages.success(request, text)


def _settings_context(
    request: HttpRequest,
    *,
    profile: SendingProfile | None,
    form: SendingProfileForm,
    page_url: str,
    hidden: dict[str, int],
) -> dict[str, Any]:
    """What the shared settings section shows around the form (see _sending_profile.html)."""
    # Advice follows what is on the screen: the posted values when the form came back.
    shown = form.instance if form.is_bound else (profile or form.instance)
    context: dict[str, Any] = {
        "profile": profile,
        "profile_form": form,
        "advice": advice.profile_advice(shown),
        "page_url": page_url,
        "hidden": hidden,
        "tests": selectors.profile_tests(profile=profile) if profile is not None else [],
        "oauth_ready": {
            code: profiles.oauth_configured(provider)
            for code, provider in profiles.OAUTH_METHODS.items()
        },
        "public_url": str(getattr(settings, "PUBLIC_URL", "") or ""),
        "installation_admin": installation_admin(request.user),
    }
    if profile is not None:
        context.update(
            key_problem=profiles.profile_key_problem(profile=profile),
            held=profiles.held_count(profile),
            unready=profiles.profile_unready(profile),
            oauth_connected=profiles.oauth_connected(profile),
            oauth_saved=profile.method in profiles.OAUTH_METHODS
            or (
                profile.method == SendingProfile.Method.SMTP
                and profile.smtp_auth == SendingProfile.SMTPAuth.XOAUTH2
            ),
            webhook=(
                profiles.profile_webhook_address(profile=profile)
                if profile.method in profiles.WEBHOOK_METHODS
                else None
            ),
        )
    return context


@login_required
@require_http_methods(["GET", "POST"])
def my_profile(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    owner = _profile_owner(request)
    profile = profiles.profile_for_page(collaborator=owner)
    details_form = CollaboratorDetailsForm(instance=owner, prefix="me")
    profile_form = _profile_form(request, profile=profile, new=_new_profile(owner), company=False)
    if request.method == "POST" and "save_details" in request.POST:
        details_form = CollaboratorDetailsForm(request.POST, instance=owner, prefix="me")
        if details_form.is_valid():
            details_form.save()
            messages.success(request, _("Vos coordonnées sont enregistrées."))
            return redirect(_my_profile_url(owner, user))
    elif profile_form.is_bound and profile_form.is_valid():
        _save_profile(request, profile_form)
        return redirect(_my_profile_url(owner, user))
    page_url = _my_profile_url(owner, user)
    context = {
        "owner": owner,
        "is_own": owner.pk == user.pk,
        "details_form": details_form,
        "collaborators": (
            Collaborator.objects.filter(is_active=True) if is_firm_admin(user) else None
        ),
        **_settings_context(
            request,
            profile=profile,
            form=profile_form,
            page_url=page_url,
            hidden={} if owner.pk == user.pk else {"collaborator": owner.pk},
        ),
    }
    return render(request, "mailing/my_profile.html", context)


@admin_required
@require_http_methods(["GET", "POST"])
def company_profile(request: HttpRequest, pk: int) -> HttpResponse:
    """A billing company's sending settings: its invoices and the mails about them leave here."""
    company = get_object_or_404(BillingCompany, pk=pk)
    profile = profiles.profile_for_page(billing_company=company)
    form = _profile_form(request, profile=profile, new=_new_company_profile(company), company=True)
    page_url = reverse("mailing:company_profile", args=[company.pk])
    if request.method == "POST" and form.is_valid():
        _save_profile(request, form)
        return redirect(page_url)
    context = {
        "company": company,
        **_settings_context(
            request, profile=profile, form=form, page_url=page_url, hidden={"company": company.pk}
        ),
    }
    return render(request, "mailing/company_profile.html", context)


def _profile_to_test(request: HttpRequest) -> tuple[SendingProfile | None, str, str]:
    """The profile the test button is for, the error to show instead, and the page to go back
    to. A company's profile is tested by administrators only."""
    user = _user(request)
    company_pk = request.POST.get("company")
    if company_pk is not None:
        pk = _int_param(company_pk)
        if pk is None:
            raise Http404(_("Société facturante inconnue."))
        if not is_firm_admin(user):
            raise admin_only()
        company = get_object_or_404(BillingCompany, pk=pk)
        back = reverse("mailing:company_profile", args=[company.pk])
        owner_filter: dict[str, Any] = {"billing_company": company}
    else:
        owner = _profile_owner(request)
        back = _my_profile_url(owner, user)
        owner_filter = {"collaborator": owner}
    try:
        profile = SendingProfile.objects.filter(**owner_filter).first()
    except SecretUnreadable:
        return (
            None,
            _(
                "Un secret enregistré (mot de passe, clé, jeton) ne peut plus être lu (la clé de "
                "chiffrement a changé) : saisissez-le à nouveau et enregistrez."
            ),
            back,
        )
    if profile is None:
        return None, _("Enregistrez d'abord le paramétrage d'envoi, puis testez-le."), back
    if not can_manage_profile(user, profile):
        raise PermissionDenied(_("Vous ne pouvez pas tester ce paramétrage d'envoi."))
    return profile, "", back


@login_required
@require_POST
def profile_test(request: HtmxHttpRequest) -> HttpResponse:
    """Send a real test mail through the profile to the person who clicked, and say how it went;
    for SMTP with a copy in the Sent folder, try the IMAP login too."""
    user = _user(request)
    profile, error, back = _profile_to_test(request)
    result = None
    imap_result: tuple[bool, Text] | None = None
    refusal = profiles.profile_test_refusal(profile=profile, requested_by=user) if profile else None
    if refusal is not None:
        error = str(refusal)
    elif profile is not None:
        try:
            result = services.profile_verify(
                profile=profile, requested_by=user, recipient=user.email
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        except MailingError as exc:
            error = exc.user_message
        imap_result = profiles.profile_imap_verify(profile=profile, requested_by=user)
    if not request.htmx:
        if result is not None and result.success:
            messages.success(request, str(result.detail) or _("Le message de test est parti."))
        else:
            messages.error(request, error or (str(result.detail) if result else ""))
        if imap_result is not None:
            (messages.success if imap_result[0] else messages.error)(request, str(imap_result[1]))
        return redirect(back)
    context = {
        "result": result,
        "imap_result": imap_result,
        "error": error,
        "recipient": user.email,
        "tests": selectors.profile_tests(profile=profile) if profile is not None else [],
    }
    return render(request, "mailing/_profile_tests.html", context)
