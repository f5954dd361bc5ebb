"""The standard phrases' screens: their list, their form (create, edit, delete), and what the
compose window asks of them ("Texte": a phrase's text in a language, the picker)."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from courrier.firm.models import Collaborator, Firm
from courrier.languages import MailLanguage
from courrier.mailing import fields, rendering
from courrier.mailing.forms.phrases import PhraseForm
from courrier.mailing.models import Phrase
from courrier.mailing.phrases import (
    LANGUAGES,
    PHRASE_CONTEXT,
    phrase_delete,
    phrase_may_edit,
    phrase_version_for,
    phrases_for,
    phrases_visible,
)
from courrier.params import id_from


def _user(request: HttpRequest) -> Collaborator:
    return cast(Collaborator, request.user)


def _pk(value: str | None) -> int | None:
    """A primary key from a query string; anything else is None (a 404, never a 500)."""
    return id_from(value)


def _language_label(code: str) -> str:
    return str(MailLanguage(code).label)


def _editable_phrase(request: HttpRequest, pk: int) -> Phrase:
    user = _user(request)
    phrase = get_object_or_404(phrases_visible(user=user), pk=pk)
    if not phrase_may_edit(user=user, phrase=phrase):
        raise PermissionDenied(
            _(
                "Cette phrase appartient au cabinet ou à un autre collaborateur : vous pouvez "
                "l'utiliser mais pas la modifier."
            )
        )
    return phrase


@login_required
@require_GET
def phrase_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    rows = []
    for phrase in phrases_visible(user=user):
        present = {version.language for version in phrase.versions.all()}
        rows.append(
            {
                "phrase": phrase,
                "present": [(c, label) for c, label in MailLanguage.choices if c in present],
                "missing": [(c, label) for c, label in MailLanguage.choices if c not in present],
                "editable": phrase_may_edit(user=user, phrase=phrase),
            }
        )
    return render(request, "mailing/phrases/phrase_list.html", {"rows": rows})


def _form_page(request: HttpRequest, form: PhraseForm, phrase: Phrase | None) -> HttpResponse:
    return render(
        request,
        "mailing/phrases/phrase_form.html",
        {
            "form": form,
            "phrase": phrase,
            "merge_fields": fields.fields_for(PHRASE_CONTEXT),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def phrase_create(request: HttpRequest) -> HttpResponse:
    form = PhraseForm(request.POST or None, user=_user(request))
    if request.method == "POST" and form.is_valid():
        phrase = form.save()
        messages.success(request, _("La phrase « %(name)s » est enregistrée.") % {"name": phrase})
        return redirect("mailing:phrases")
    return _form_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def phrase_edit(request: HttpRequest, pk: int) -> HttpResponse:
    phrase = _editable_phrase(request, pk)
    form = PhraseForm(request.POST or None, user=_user(request), phrase=phrase)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("La phrase « %(name)s » est enregistrée.") % {"name": phrase})
        return redirect("mailing:phrases")
    return _form_page(request, form, phrase)


@login_required
@require_http_methods(["GET", "POST"])
def phrase_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    phrase = _editable_phrase(request, pk)
    if request.method == "POST":
        name = phrase.name
        phrase_delete(phrase=phrase)
        messages.success(request, _("La phrase « %(name)s » est supprimée.") % {"name": name})
        return redirect("mailing:phrases")
    return render(request, "mailing/phrases/phrase_confirm_delete.html", {"phrase": phrase})


@login_required
@require_GET
def phrase_text(request: HttpRequest) -> JsonResponse:
    """The text of a phrase in a language, as JSON, for insertion at the cursor.

    GET ?phrase=<id>&language=<fr|nl|de|en>. Answers 200 with {phrase, name, language,
    requested_language, fallback, text, notice}: `fallback` is true (and `notice` says so)
    when the text is in the firm's default language because the phrase has none in the
    requested one. Otherwise {error} with 400 (unknown language) or 404 (no such phrase for
    this user, or no text in either language).
    """
    language = (request.GET.get("language") or "").strip()
    if language not in LANGUAGES:
        return JsonResponse({"error": _("Langue inconnue.")}, status=400)
    pk = _pk(request.GET.get("phrase"))
    phrase = phrases_for(user=_user(request)).filter(pk=pk).first() if pk is not None else None
    if phrase is None:
        return JsonResponse({"error": _("Cette phrase n'existe pas ou plus.")}, status=404)
    version, fallback = phrase_version_for(phrase=phrase, language=language)
    if version is None:
        return JsonResponse(
            {
                "error": _(
                    "La phrase « %(name)s » n'existe ni en %(language)s ni dans la langue par "
                    "défaut du cabinet."
                )
                % {"name": phrase.name, "language": _language_label(language)}
            },
            status=404,
        )
    notice = ""
    if fallback:
        notice = _(
            "La phrase « %(name)s » n'existe pas en %(requested)s : le texte en %(language)s "
            "(langue par défaut du cabinet) est inséré."
        ) % {
            "name": phrase.name,
            "requested": _language_label(language),
            "language": _language_label(version.language),
        }
    return JsonResponse(
        {
            "phrase": phrase.pk,
            "name": phrase.name,
            "language": version.language,
            "requested_language": language,
            "fallback": fallback,
            "text": rendering.body_html(version.text),
            "notice": notice,
        }
    )


@login_required
@require_GET
def phrase_picker(request: HttpRequest) -> HttpResponse:
    """The "Texte" picker of the compose window (a partial): the phrases the user may insert,
    each marked by whether it exists in ?language= (else the firm's default language)."""
    user = _user(request)
    default = Firm.load().default_language
    language = (request.GET.get("language") or "").strip()
    if language not in LANGUAGES:
        language = default
    groups: dict[str, list[dict[str, Any]]] = {"firm": [], "own": [], "shared": []}
    for phrase in phrases_for(user=user):
        present = {version.language for version in phrase.versions.all()}
        if phrase.owner_id is None:
            group = "firm"
        elif phrase.owner_id == user.pk:
            group = "own"
        else:
            group = "shared"
        groups[group].append(
            {
                "phrase": phrase,
                "available": language in present,
                "fallback": language not in present and default in present,
            }
        )
    labels = {
        "firm": _("Phrases du cabinet"),
        "own": _("Mes phrases"),
        "shared": _("Partagées par des collègues"),
    }
    context = {
        "groups": [(labels[key], rows) for key, rows in groups.items() if rows],
        "language": language,
        "language_label": _language_label(language),
        "default_language": default,
    }
    return render(request, "mailing/phrases/_picker.html", context)
