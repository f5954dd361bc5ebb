"""A billing company's Peppol page: its access point (method, credentials, account, address),
the webhook address to give the provider, and a connection test that asks the access point
with a harmless call and says the answer in the reader's language."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from courrier.crypto import SecretUnreadable
from courrier.firm.models import BillingCompany
from courrier.firm.permissions import admin_required
from courrier.mailing.exceptions import MailingError
from courrier.mailing.forms.peppol import PeppolProfileForm
from courrier.mailing.models import SendingProfile
from courrier.mailing.services import profiles
from courrier.mailing.transports.peppol import access_point_for

STORED = ("api_key", "api_secret", "webhook_secret")


def _stored(profile: SendingProfile | None) -> dict[str, bool]:
    flags = profiles.secrets_stored(profile)
    return {name: flags.get(name, False) for name in STORED}


@admin_required
@require_http_methods(["GET", "POST"])
def company_peppol(request: HttpRequest, pk: int) -> HttpResponse:
    company = get_object_or_404(BillingCompany, pk=pk)
    profile = profiles.profiles_for_page().filter(peppol_company=company).first()
    instance = profile or SendingProfile(
        peppol_company=company,
        method=SendingProfile.Method.BILLIT,
        from_address=company.email,
        from_name=company.name,
    )
    page_url = reverse("mailing:company_peppol", args=[company.pk])
    form = PeppolProfileForm(
        request.POST if request.method == "POST" else None,
        instance=instance,
        prefix="peppol",
        stored=_stored(profile),
    )
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            saved = form.save()
            resumed = profiles.profile_saved(profile=saved)
        text = _("Les paramètres Peppol sont enregistrés.")
        if resumed:
            text += " " + _("Les documents en attente repartent.")
        messages.success(request, text)
        return redirect(page_url)
    context = {
        "company": company,
        "profile": profile,
        "form": form,
        "unready": profiles.profile_unready(profile) if profile else None,
        "webhook": profiles.profile_webhook_address(profile=profile) if profile else None,
    }
    return render(request, "mailing/company_peppol.html", context)


@admin_required
@require_POST
def company_peppol_test(request: HttpRequest, pk: int) -> HttpResponse:
    company = get_object_or_404(BillingCompany, pk=pk)
    page_url = reverse("mailing:company_peppol", args=[company.pk])
    try:
        profile = SendingProfile.objects.filter(peppol_company=company).first()
    except SecretUnreadable:
        messages.error(
            request,
            _("Un secret enregistré ne peut plus être lu : saisissez-le à nouveau et enregistrez."),
        )
        return redirect(page_url)
    if profile is None:
        messages.error(request, _("Enregistrez d'abord les paramètres Peppol, puis testez-les."))
        return redirect(page_url)
    try:
        access_point = access_point_for(profile)
        try:
            answer = access_point.check()
        finally:
            access_point.close()
    except MailingError as exc:
        messages.error(
            request,
            _("Le test de connexion a échoué : %(reason)s") % {"reason": exc.explanation.render()},
        )
    else:
        messages.success(
            request,
            _("Le point d'accès a répondu : la connexion fonctionne (%(answer)s).")
            % {"answer": answer},
        )
    return redirect(page_url)
