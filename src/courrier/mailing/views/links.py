"""The public pages of a secure link, `/l/<token>/`: a code form, then the file.

These are the only pages of the application that a client of the firm meets, from the link
of a mail. Each one (the form, a refusal, a missing file, an unknown address, an error) is the
client's: the firm's name and nothing of the firm's application (no menu, no way to its
pages), in the language of the mail that carried the link (German included, which the
interface does not speak), never the browser's nor a collaborator's. No login, no session and
no cookie: the token finds the link, the code opens it.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import pgettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from courrier.firm.lockout import client_address
from courrier.firm.models import Firm
from courrier.l10n import MAIL_LANGUAGES, format_long_date, in_language, override
from courrier.mailing import links
from courrier.mailing.models import SecureLink
from courrier.request_ids import request_id_of

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

logger = logging.getLogger(__name__)

# Where the link pages live (see courrier/urls.py): the error pages of these addresses are
# the client's too.
LINK_PREFIX = "/l/"
_TOKEN_IN_PATH = re.compile(r"^/l/([A-Za-z0-9]{1,64})/")

# The words of the link pages, rendered in the link's language (`_words`, `_message`).
_WORDS: dict[str, StrOrPromise] = {
    "title": pgettext_lazy("link page", "Document sécurisé"),
    "intro": pgettext_lazy(
        "link page",
        "Le document « %(name)s » (%(size)s) vous est transmis par un lien sécurisé, valable "
        "jusqu'au %(date)s.",
    ),
    "code_label": pgettext_lazy("link page", "Code d'accès"),
    "code_help": pgettext_lazy(
        "link page",
        "Le code vous a été communiqué séparément (par téléphone ou dans un autre e-mail).",
    ),
    "submit": pgettext_lazy("link page", "Télécharger le document"),
    "wrong_code": pgettext_lazy(
        "link page", "Ce code n'est pas le bon. Il vous reste %(n)s essais."
    ),
    "wrong_code_last": pgettext_lazy(
        "link page",
        "Ce code n'est pas le bon. Il vous reste un dernier essai : après, le lien sera bloqué.",
    ),
    "empty_code": pgettext_lazy("link page", "Tapez le code d'accès."),
    "expired": pgettext_lazy(
        "link page",
        "Ce lien a expiré le %(date)s. Demandez à votre fiduciaire de vous renvoyer le document.",
    ),
    "revoked": pgettext_lazy(
        "link page",
        "Ce lien a été désactivé par votre fiduciaire. Contactez-la si vous avez encore besoin "
        "du document.",
    ),
    "locked": pgettext_lazy(
        "link page",
        "Ce lien est bloqué après trop de codes erronés. Contactez votre fiduciaire pour "
        "recevoir le document autrement.",
    ),
    "unavailable": pgettext_lazy("link page", "Document indisponible"),
    "missing": pgettext_lazy(
        "link page", "Le fichier n'est plus disponible sur le serveur. Contactez votre fiduciaire."
    ),
    "not_found_title": pgettext_lazy("link page", "Lien introuvable"),
    "not_found": pgettext_lazy(
        "link page",
        "Ce lien n'existe pas. Vérifiez l'adresse reçue dans l'e-mail : elle doit être ouverte "
        "en entier.",
    ),
    "bad_method": pgettext_lazy(
        "link page",
        "Cette adresse s'ouvre dans un navigateur web : cliquez sur le lien reçu par e-mail.",
    ),
    "bad_request": pgettext_lazy(
        "link page",
        "Cette demande n'a pas pu être traitée. Cliquez à nouveau sur le lien reçu par e-mail.",
    ),
    "error_title": pgettext_lazy("link page", "Erreur inattendue"),
    "reference": pgettext_lazy("link page", "Référence de l'erreur, à donner à votre fiduciaire :"),
    "error": pgettext_lazy(
        "link page",
        "Le document n'a pas pu être affiché à cause d'une erreur de notre côté. Réessayez dans"
        " quelques minutes ; si cela se reproduit, contactez votre fiduciaire.",
    ),
}


class CodeForm(forms.Form):
    code = forms.CharField(max_length=40, required=False, strip=True)


def is_link_path(path: str) -> bool:
    """Whether an address is one of the client's pages (for the error handlers)."""
    return path == LINK_PREFIX.rstrip("/") or path.startswith(LINK_PREFIX)


def _words(language: str) -> dict[str, str]:
    with override(language):
        return {key: str(text) for key, text in _WORDS.items()}


def _size(size: int, language: str) -> str:
    decimal = "." if language == "en" else ","
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".", decimal)
    return f"{max(1, round(size / 1024))} kB"


def _secure(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    # The token is in the address: it never leaves in a Referer header.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _firm() -> Firm | None:
    try:
        return Firm.load()
    except Exception:  # an error page must render even when the database fails
        logger.exception("the firm could not be read for a link page")
        return None


def _page(template: str, *, language: str, title: str, status: int, **context: Any) -> HttpResponse:
    """A client's page, rendered without the request: no context processor (they read the
    collaborator's session and profile), no CSRF cookie, no language but `language`."""
    firm = _firm()
    content = render_to_string(
        template,
        {
            "language": language,
            "title": title,
            "firm_name": firm.name if firm is not None else "",
            "firm_phone": firm.phone if firm is not None else "",
            **context,
        },
    )
    return _secure(HttpResponse(content, status=status))


def _message(
    link: SecureLink | None,
    *,
    title_key: str,
    text_key: str,
    status: int,
    date: str = "",
    reference: str = "",
) -> HttpResponse:
    """A page that says one thing (`_WORDS` keys): in the link's language, or in the four mail
    languages when there is no link to tell whose it is; with `reference`, the request's id
    that finds the error in the log."""
    codes = [links.link_language(link)] if link is not None else list(MAIL_LANGUAGES)
    blocks = [
        {
            "language": code,
            "title": in_language(_WORDS[title_key], code),
            "text": in_language(_WORDS[text_key], code) % {"date": date},
            "reference_label": in_language(_WORDS["reference"], code) if reference else "",
        }
        for code in codes
    ]
    return _page(
        "mailing/links/message.html",
        language=codes[0],
        title=blocks[0]["title"],
        status=status,
        blocks=blocks,
        reference=reference,
    )


def _refusal(error: links.LinkError) -> HttpResponse:
    link = error.link
    if link is None:
        return _message(None, title_key="not_found_title", text_key="not_found", status=404)
    language = links.link_language(link)
    day = format_long_date(timezone.localtime(link.expires_at).date(), language)
    reason = {links.LinkExpired: "expired", links.LinkRevoked: "revoked"}.get(type(error), "locked")
    status = 410 if isinstance(error, links.LinkExpired | links.LinkRevoked) else 403
    return _message(link, title_key="unavailable", text_key=reason, status=status, date=day)


def _form_page(link: SecureLink, error: str = "", status: int = 200) -> HttpResponse:
    language = links.link_language(link)
    words = _words(language)
    intro = words["intro"] % {
        "name": link.name,
        "size": _size(link.size, language),
        "date": format_long_date(timezone.localtime(link.expires_at).date(), language),
    }
    return _page(
        "mailing/links/open.html",
        language=language,
        title=words["title"],
        status=status,
        words=words,
        intro=intro,
        error=error,
    )


def _wrong_code(link: SecureLink, remaining: int) -> str:
    words = _words(links.link_language(link))
    return words["wrong_code_last"] if remaining == 1 else words["wrong_code"] % {"n": remaining}


# A client's browser has no session nor CSRF cookie of the firm's application, and may block
# cookies altogether; the page also sends no Referer (the token is in its address), so
# Chromium posts the form with "Origin: null". CSRF protects a logged-in person's session from
# a forged request; this form has no session to protect: its POST only exchanges the link's
# secret code for the file, and the token (256 bits), the code, the lock after five wrong
# codes and the log of every attempt are what protect it. It is therefore exempt, and the
# firm's own pages keep Django's CSRF check (tests/mailing/test_link_pages.py holds both).
@csrf_exempt
@login_not_required
@never_cache
def link_page(request: HttpRequest, token: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD", "POST"):
        return _not_allowed(request)
    # Behind the reverse proxy, the client's own address (the one the login throttle counts).
    ip = client_address(request)
    user_agent = request.META.get("HTTP_USER_AGENT", "")
    try:
        link = links.link_visit(token=token, ip=ip, user_agent=user_agent)
    except links.LinkError as error:
        return _refusal(error)
    if request.method != "POST":
        return _form_page(link)
    form = CodeForm(request.POST)
    code = form.cleaned_data.get("code", "") if form.is_valid() else ""
    if not links.code_normalise(code):
        return _form_page(link, _words(links.link_language(link))["empty_code"], status=400)
    try:
        link = links.link_open(token=token, code=code, ip=ip, user_agent=user_agent)
    except links.WrongCode as error:
        return _form_page(link, _wrong_code(link, error.remaining), status=403)
    except links.LinkError as error:
        return _refusal(error)
    try:
        content = links.link_content(link)
    except OSError:
        logger.warning("secure link %s opened but its file is missing", link.pk)
        return _message(link, title_key="unavailable", text_key="missing", status=410)
    response = HttpResponse(content, content_type=link.content_type)
    # The document's own name, accents included (RFC 6266 filename*), as the browser saves it.
    response["Content-Disposition"] = content_disposition_header(True, link.name) or "attachment"
    response["Content-Length"] = str(len(content))
    return _secure(response)


def _link_of_path(path: str) -> SecureLink | None:
    """The link whose page this address is, to answer an error in its language; None when
    there is none or it cannot be read (the error may be the database's)."""
    found = _TOKEN_IN_PATH.match(path)
    if found is None:
        return None
    try:
        return SecureLink.objects.select_related("client").filter(token=found[1]).first()
    except Exception:  # an error page must render even when the database fails
        logger.exception("no link could be read for the error page of %s", path)
        return None


def _not_allowed(request: HttpRequest) -> HttpResponse:
    link = _link_of_path(request.path_info)
    response = _message(link, title_key="unavailable", text_key="bad_method", status=405)
    response["Allow"] = "GET, HEAD, POST"
    return response


def error_page(request: HttpRequest, *, status: int) -> HttpResponse:
    """The client's page for an error under /l/ (400, 403, 404, 500), called by the project's
    error handlers: in the link's language when the address is a link's, else in all four."""
    link = _link_of_path(request.path_info)
    if status == 404:
        return _message(link, title_key="not_found_title", text_key="not_found", status=404)
    if status >= 500:
        return _message(
            link,
            title_key="error_title",
            text_key="error",
            status=status,
            reference=request_id_of(request),
        )
    return _message(link, title_key="unavailable", text_key="bad_request", status=status)
