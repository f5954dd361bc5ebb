"""Connect a mailbox with OAuth2, and disconnect it. The same three views for every provider.

Connect (POST) sends the browser to the provider; the provider sends it back to the callback of
that provider; both need the login of the person who clicked. Afterwards the browser returns to
the page the connection started from (Ma fiche, a billing company's page) with a message.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from courrier.firm.permissions import can_manage_profile
from courrier.mailing import oauth, services
from courrier.mailing.exceptions import MailingError
from courrier.mailing.models import SendingProfile
from courrier.params import next_url

RETURN_KEY = "oauth_return"


def _redirect_uri(request: HttpRequest, provider: str) -> str:
    """The callback address registered with the provider: the public one when it is set."""
    path = reverse(f"mailing:oauth_callback_{provider}")
    public = str(getattr(settings, "PUBLIC_URL", "") or "").rstrip("/")
    return f"{public}{path}" if public else request.build_absolute_uri(path)


def _home(profile: SendingProfile | None, user_pk: int | None) -> str:
    """The page a profile is managed on."""
    if profile is not None and profile.billing_company_id is not None:
        return reverse("mailing:company_profile", args=[profile.billing_company_id])
    url = reverse("mailing:my_profile")
    if profile is not None and profile.collaborator_id not in (None, user_pk):
        url += f"?collaborator={profile.collaborator_id}"
    return url


def _safe_next(request: HttpRequest, candidate: str | None, fallback: str) -> str:
    return next_url(request, candidate, fallback=fallback)


def _managed_profile(request: HttpRequest, pk: int) -> SendingProfile:
    profile = get_object_or_404(SendingProfile, pk=pk)
    if not can_manage_profile(request.user, profile):
        raise PermissionDenied(
            _("Seuls le titulaire de ce paramétrage d'envoi et les administrateurs le modifient.")
        )
    return profile


@login_required
@require_POST
def oauth_connect(request: HttpRequest, pk: int) -> HttpResponse:
    profile = _managed_profile(request, pk)
    back = _safe_next(request, request.POST.get("next"), _home(profile, request.user.pk))
    provider = oauth.provider_for(profile)
    if provider is None:
        messages.error(
            request,
            _(
                "Cette méthode d'envoi ne se connecte pas par OAuth : choisissez Gmail ou "
                "Microsoft 365."
            ),
        )
        return HttpResponseRedirect(back)
    try:
        module = oauth.provider_module(provider)
        url: str = module.authorization_url(
            profile=profile, redirect_uri=_redirect_uri(request, provider), session=request.session
        )
    except MailingError as exc:
        messages.error(request, exc.user_message)
        return HttpResponseRedirect(back)
    state = (parse_qs(urlsplit(url).query).get("state") or [""])[0]
    returns = dict(request.session.get(RETURN_KEY) or {})
    # Bounded like the pending connections themselves.
    returns = dict(list(returns.items())[-4:])
    returns[state] = back
    request.session[RETURN_KEY] = returns
    return HttpResponseRedirect(url)


@login_required
@require_GET
def oauth_callback(request: HttpRequest, provider: str) -> HttpResponse:
    returns = dict(request.session.get(RETURN_KEY) or {})
    back = returns.pop(request.GET.get("state", ""), None)
    request.session[RETURN_KEY] = returns
    try:
        module = oauth.provider_module(provider)
        profile: SendingProfile = module.complete(
            redirect_uri=_redirect_uri(request, provider),
            session=request.session,
            query=request.GET,
        )
    except MailingError as exc:
        messages.error(request, str(exc.explanation))
        return HttpResponseRedirect(back or _home(None, request.user.pk))
    resumed = services.profile_updated(profile=profile)
    text = _("Boîte mail connectée : %(account)s. Les envois passent désormais par elle.") % {
        "account": profile.oauth_account
    }
    if resumed:
        text += " " + ngettext(
            "%(count)d message en attente repart.",
            "%(count)d messages en attente repartent.",
            resumed,
        ) % {"count": resumed}
    messages.success(request, text)
    account = profile.oauth_account.lower()
    if account and profile.from_address.lower() != account and not profile.microsoft_mailbox:
        messages.warning(
            request,
            _(
                "L'adresse d'expéditeur %(sender)s n'est pas celle du compte connecté "
                "(%(account)s) : le fournisseur remplacera l'expéditeur par %(account)s, sauf si "
                "%(sender)s est déclarée comme adresse d'envoi de ce compte."
            )
            % {"sender": profile.from_address, "account": profile.oauth_account},
        )
    return HttpResponseRedirect(back or _home(profile, request.user.pk))


@login_required
@require_POST
def oauth_disconnect(request: HttpRequest, pk: int) -> HttpResponse:
    profile = _managed_profile(request, pk)
    back = _safe_next(request, request.POST.get("next"), _home(profile, request.user.pk))
    account = profile.oauth_account
    oauth.profile_disconnect(profile=profile)
    messages.success(
        request,
        _(
            "La boîte mail %(account)s est déconnectée et son accès retiré. Reconnectez-la pour "
            "envoyer à nouveau ; les messages en attente patienteront jusque-là."
        )
        % {"account": account or profile.from_address},
    )
    return HttpResponseRedirect(back)
