"""The public page of a secure link: a code form, then the file; refusals in the language of
the link's client. No login: the token finds the link, the code opens it."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from courrier.mailing import links
from courrier.mailing.fields import MAIL_LANGUAGES, format_long_date
from courrier.mailing.models import SecureLink

# The pages speak the client's language, German included, which has no UI catalogue.
_WORDS: dict[str, dict[str, str]] = {
    "title": {
        "fr": "Document sécurisé",
        "nl": "Beveiligd document",
        "de": "Gesichertes Dokument",
        "en": "Secure document",
    },
    "intro": {
        "fr": "Le document « {name} » ({size}) vous est transmis par un lien sécurisé, "
        "valable jusqu'au {date}.",
        "nl": "Het document „{name}” ({size}) wordt u via een beveiligde link bezorgd, "
        "geldig tot en met {date}.",
        "de": "Das Dokument „{name}“ ({size}) wird Ihnen über einen gesicherten Link "
        "bereitgestellt, gültig bis zum {date}.",
        "en": "The document “{name}” ({size}) is sent to you through a secure link, valid "
        "until {date}.",
    },
    "code_label": {
        "fr": "Code d'accès",
        "nl": "Toegangscode",
        "de": "Zugangscode",
        "en": "Access code",
    },
    "code_help": {
        "fr": "Le code vous a été communiqué séparément (par téléphone ou dans un autre e-mail).",
        "nl": "De code werd u afzonderlijk meegedeeld (telefonisch of in een andere e-mail).",
        "de": "Der Code wurde Ihnen separat mitgeteilt (telefonisch oder in einer anderen E-Mail).",
        "en": "The code was given to you separately (by phone or in another e-mail).",
    },
    "submit": {
        "fr": "Télécharger le document",
        "nl": "Document downloaden",
        "de": "Dokument herunterladen",
        "en": "Download the document",
    },
    "wrong_code": {
        "fr": "Ce code n'est pas le bon. Il vous reste {n} essai(s).",
        "nl": "Deze code is niet juist. U hebt nog {n} poging(en).",
        "de": "Dieser Code ist nicht richtig. Sie haben noch {n} Versuch(e).",
        "en": "This code is not right. You have {n} attempt(s) left.",
    },
    "empty_code": {
        "fr": "Tapez le code d'accès.",
        "nl": "Typ de toegangscode.",
        "de": "Geben Sie den Zugangscode ein.",
        "en": "Type the access code.",
    },
    "expired": {
        "fr": "Ce lien a expiré le {date}. Demandez à votre fiduciaire de vous renvoyer le "
        "document.",
        "nl": "Deze link is verlopen op {date}. Vraag uw boekhoudkantoor het document "
        "opnieuw te sturen.",
        "de": "Dieser Link ist am {date} abgelaufen. Bitten Sie Ihr Treuhandbüro, Ihnen das "
        "Dokument erneut zu senden.",
        "en": "This link expired on {date}. Ask your accountant to send you the document again.",
    },
    "revoked": {
        "fr": "Ce lien a été désactivé par votre fiduciaire. Contactez-la si vous avez "
        "encore besoin du document.",
        "nl": "Deze link werd door uw boekhoudkantoor uitgeschakeld. Neem contact op als u "
        "het document nog nodig hebt.",
        "de": "Dieser Link wurde von Ihrem Treuhandbüro deaktiviert. Wenden Sie sich an es, "
        "wenn Sie das Dokument noch benötigen.",
        "en": "This link was switched off by your accountant. Contact them if you still "
        "need the document.",
    },
    "locked": {
        "fr": "Ce lien est bloqué après trop de codes erronés. Contactez votre fiduciaire "
        "pour recevoir le document autrement.",
        "nl": "Deze link is geblokkeerd na te veel foute codes. Neem contact op met uw "
        "boekhoudkantoor om het document anders te ontvangen.",
        "de": "Dieser Link ist nach zu vielen falschen Codes gesperrt. Wenden Sie sich an Ihr "
        "Treuhandbüro, um das Dokument auf anderem Weg zu erhalten.",
        "en": "This link is locked after too many wrong codes. Contact your accountant to "
        "receive the document another way.",
    },
    "unavailable": {
        "fr": "Document indisponible",
        "nl": "Document niet beschikbaar",
        "de": "Dokument nicht verfügbar",
        "en": "Document unavailable",
    },
    "missing": {
        "fr": "Le fichier n'est plus disponible sur le serveur. Contactez votre fiduciaire.",
        "nl": "Het bestand is niet meer beschikbaar op de server. Neem contact op met uw "
        "boekhoudkantoor.",
        "de": "Die Datei ist auf dem Server nicht mehr verfügbar. Wenden Sie sich an Ihr "
        "Treuhandbüro.",
        "en": "The file is no longer available on the server. Contact your accountant.",
    },
}

# A token nobody has: nothing tells whose link it was, so every language at once.
_NOT_FOUND = [
    ("fr", "Ce lien n'existe pas. Vérifiez l'adresse reçue dans l'e-mail."),
    ("nl", "Deze link bestaat niet. Controleer het adres uit de e-mail."),
    ("de", "Dieser Link existiert nicht. Prüfen Sie die Adresse aus der E-Mail."),
    ("en", "This link does not exist. Check the address in the e-mail."),
]


class CodeForm(forms.Form):
    code = forms.CharField(max_length=40, required=False, strip=True)


def _language(link: SecureLink) -> str:
    language = link.client.language
    return language if language in MAIL_LANGUAGES else "fr"


def _words(language: str) -> dict[str, str]:
    return {key: texts[language] for key, texts in _WORDS.items()}


def _size(size: int, language: str) -> str:
    decimal = "." if language == "en" else ","
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".", decimal)
    return f"{max(1, round(size / 1024))} kB"


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


def _secure(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _refusal(request: HttpRequest, error: links.LinkError) -> HttpResponse:
    if error.link is None:
        response = render(
            request, "mailing/links/not_found.html", {"texts": _NOT_FOUND}, status=404
        )
        return _secure(response)
    language = _language(error.link)
    words = _words(language)
    day = format_long_date(timezone.localtime(error.link.expires_at).date(), language)
    reason = {
        links.LinkExpired: words["expired"].format(date=day),
        links.LinkRevoked: words["revoked"],
    }.get(type(error), words["locked"])
    with translation.override(language):
        response = render(
            request,
            "mailing/links/refused.html",
            {"words": words, "reason": reason, "language": language},
            status=410 if isinstance(error, links.LinkExpired | links.LinkRevoked) else 403,
        )
    return _secure(response)


def _form_page(
    request: HttpRequest, link: SecureLink, form: CodeForm, error: str = "", status: int = 200
) -> HttpResponse:
    language = _language(link)
    words = _words(language)
    intro = words["intro"].format(
        name=link.name,
        size=_size(link.size, language),
        date=format_long_date(timezone.localtime(link.expires_at).date(), language),
    )
    with translation.override(language):
        response = render(
            request,
            "mailing/links/open.html",
            {"words": words, "intro": intro, "form": form, "error": error, "link": link},
            status=status,
        )
    return _secure(response)


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def link_page(request: HttpRequest, token: str) -> HttpResponse:
    ip = _client_ip(request)
    user_agent = request.META.get("HTTP_USER_AGENT", "")
    try:
        link = links.link_visit(token=token, ip=ip, user_agent=user_agent)
    except links.LinkError as error:
        return _refusal(request, error)
    if request.method == "GET":
        return _form_page(request, link, CodeForm())
    form = CodeForm(request.POST)
    code = form.cleaned_data.get("code", "") if form.is_valid() else ""
    if not links.code_normalise(code):
        words = _words(_language(link))
        return _form_page(request, link, form, words["empty_code"], status=400)
    try:
        link = links.link_open(token=token, code=code, ip=ip, user_agent=user_agent)
    except links.WrongCode as error:
        words = _words(_language(link))
        return _form_page(
            request, link, CodeForm(), words["wrong_code"].format(n=error.remaining), status=403
        )
    except links.LinkError as error:
        return _refusal(request, error)
    try:
        content = links.link_content(link)
    except OSError:
        language = _language(link)
        words = _words(language)
        with translation.override(language):
            response = render(
                request,
                "mailing/links/refused.html",
                {"words": words, "reason": words["missing"], "language": language},
                status=410,
            )
        return _secure(response)
    response = HttpResponse(content, content_type=link.content_type)
    response["Content-Disposition"] = content_disposition_header(True, link.name) or "attachment"
    response["Content-Length"] = str(len(content))
    return _secure(response)
