"""The templates screens: the catalogue of mail templates, the merge fields of each context, and
the template form (create, edit). The firm's templates (no owner) are edited by administrators,
personal ones by their owner."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from courrier.firm.models import Collaborator, Firm
from courrier.firm.permissions import is_firm_admin
from courrier.languages import MailLanguage
from courrier.mailing import fields, selectors
from courrier.mailing.contexts import CLIENT_CONTEXT
from courrier.mailing.forms import MailTemplateForm
from courrier.mailing.models import MailTemplate
from courrier.mailing.views.common import _user

# --- Templates ------------------------------------------------------------------------------


def _merge_fields(context: str) -> list[fields.Field]:
    try:
        return fields.fields_for(context)
    except ValueError:  # a context whose catalogue is not written yet
        return fields.fields_for(CLIENT_CONTEXT)


def _may_edit_template(user: Collaborator, template: MailTemplate) -> bool:
    if is_firm_admin(user):
        return True
    return template.owner_id is not None and template.owner_id == user.pk


def _catalogue_contexts() -> list[dict[str, Any]]:
    """Every context a template can be written for (it has a merge-field catalogue), with
    its fields."""
    return [
        {"value": value, "label": label, "fields": fields.fields_for(value)}
        for value, label in MailTemplate.Context.choices
        if value in fields.CONTEXT_FIELDS
    ]


@login_required
@require_GET
def templates(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    all_languages = list(MailLanguage.choices)
    rows = []
    for template in selectors.templates_visible(user=user):
        present = {version.language for version in template.versions.all()}
        rows.append(
            {
                "template": template,
                "context_label": template.get_context_display(),
                "present": [(c, label) for c, label in all_languages if c in present],
                "missing": [(c, label) for c, label in all_languages if c not in present],
                "editable": _may_edit_template(user, template),
            }
        )
    context = {
        "rows": rows,
        "default_language": Firm.load().default_language,
        "catalogues": _catalogue_contexts(),
    }
    return render(request, "mailing/templates.html", context)


@login_required
@require_GET
def template_fields(request: HttpRequest) -> HttpResponse:
    """The merge-field picker of one context, for the template form when its context changes."""
    name = str(request.GET.get("context") or "")
    if name not in fields.CONTEXT_FIELDS:
        raise Http404(_("Ce contexte n'a pas de champs de fusion."))
    return render(request, "mailing/_merge_fields.html", {"merge_fields": fields.fields_for(name)})


def _form_context(form: MailTemplateForm, default: str) -> str:
    """The context whose fields the form shows: the one posted, else `default`."""
    value = str(form["context"].value() or default)
    return value if value in fields.CONTEXT_FIELDS else default


@login_required
@require_http_methods(["GET", "POST"])
def template_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    wanted = str(request.GET.get("context") or "")
    initial = {"context": wanted} if wanted in fields.CONTEXT_FIELDS else {}
    form = MailTemplateForm(request.POST or None, user=user, initial=initial)
    if request.method == "POST" and form.is_valid():
        template = form.save()
        messages.success(request, _("Le modèle « %(name)s » est enregistré.") % {"name": template})
        return redirect("mailing:templates")
    return render(
        request,
        "mailing/template_form.html",
        {
            "form": form,
            "template_obj": None,
            "merge_fields": _merge_fields(_form_context(form, CLIENT_CONTEXT)),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    template = get_object_or_404(selectors.templates_visible(user=user), pk=pk)
    if not _may_edit_template(user, template):
        raise PermissionDenied(
            _(
                "Ce modèle appartient au cabinet ou à un autre collaborateur : vous pouvez "
                "l'utiliser mais pas le modifier."
            )
        )
    form = MailTemplateForm(request.POST or None, user=user, template=template)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Le modèle « %(name)s » est enregistré.") % {"name": template})
        return redirect("mailing:templates")
    return render(
        request,
        "mailing/template_form.html",
        {
            "form": form,
            "template_obj": template,
            "merge_fields": _merge_fields(_form_context(form, template.context)),
        },
    )
