"""The client list, the client file (tabs "Fiche" and "Mails"), the client form, tags, and the
selection builder with the saved selections."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import select_template
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from courrier.clients.builder import selection_adjustments_from, selection_builder_context
from courrier.clients.forms import (
    SelectionSaveForm,
    TagForm,
    client_forms,
    client_forms_save,
    client_forms_valid,
)
from courrier.clients.models import Client, ClientSelection, Tag
from courrier.clients.selectors import (
    SelectionFilters,
    client_get,
    client_search,
    clients_matching,
    selection_get,
    selection_summaries,
    selections_for,
)
from courrier.clients.services import (
    selection_can_delete,
    selection_delete,
    selection_save,
    selection_share,
    tag_create,
)
from courrier.firm.models import Collaborator
from courrier.firm.permissions import admin_required
from courrier.mailing.exceptions import MailingError
from courrier.mailing.models import OutboundMessage
from courrier.mailing.selectors import client_messages
from courrier.mailing.transports.peppol import access_point_for
from courrier.params import id_from
from courrier.peppol.lookup import NoAccessPoint, client_lookup, lookup_profile

CLIENTS_PER_PAGE = 50
MAILS_PER_PAGE = 50
# The Mails tab: the mailing screens' own partial when it exists, else a plain table of ours.
MAILS_TEMPLATES = ["mailing/_client_mails.html", "clients/_mails_tab.html"]
TABS = ("fiche", "mails")
# A mail in one of these states changes on its own within seconds: the Mails tab refreshes.
IN_FLIGHT = {
    OutboundMessage.Status.QUEUED,
    OutboundMessage.Status.SENDING,
    OutboundMessage.Status.RETRY,
}


def _user(request: HttpRequest) -> Collaborator:
    return cast(Collaborator, request.user)


def _id_param(value: str | None) -> int | None:
    """A primary key from a query string; anything else is None."""
    return id_from(value)


def _client_or_404(pk: int) -> Client:
    client = client_get(pk=pk)
    if client is None:
        raise Http404(_("Ce client n'existe pas."))
    return client


@login_required
@require_GET
def client_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    tag_id = _id_param(request.GET.get("tag"))
    tag = Tag.objects.filter(pk=tag_id).first() if tag_id is not None else None
    clients = client_search(query=query, tags=[tag.pk] if tag else ())
    # get_page() turns a missing, non-numeric or out-of-range page into a valid one.
    page = Paginator(clients, CLIENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "clients/client_list.html",
        {
            "query": query,
            "tag": tag,
            "tags": Tag.objects.all(),
            "page_obj": page,
            "clients": page.object_list,
        },
    )


@login_required
@require_GET
def client_detail(request: HttpRequest, pk: int) -> HttpResponse:
    client = _client_or_404(pk)
    tab = request.GET.get("tab", "fiche")
    context: dict[str, object] = {"client": client, "tab": tab if tab in TABS else "fiche"}
    if context["tab"] == "mails":
        context.update(_mails_context(request, client))
    return render(request, "clients/client_detail.html", context)


def _mails_context(request: HttpRequest, client: Client) -> dict[str, object]:
    page = Paginator(client_messages(client=client, user=request.user), MAILS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return {
        "messages_list": page.object_list,
        "mails": page.object_list,  # the name the mailing partial reads
        "page_obj": page,
        "mails_template": select_template(MAILS_TEMPLATES),
        "mails_pending": any(message.status in IN_FLIGHT for message in page.object_list),
    }


@login_required
@require_GET
def client_mails(request: HttpRequest, pk: int) -> HttpResponse:
    """The Mails tab: a partial for HTMX, or the client file opened on that tab."""
    client = _client_or_404(pk)
    context = {"client": client, "tab": "mails", **_mails_context(request, client)}
    if getattr(request, "htmx", False):
        return render(request, "clients/_mails_panel.html", context)
    return render(request, "clients/client_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def client_create(request: HttpRequest) -> HttpResponse:
    form, formset = client_forms(data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and client_forms_valid(form, formset):
        client = client_forms_save(form, formset)
        messages.success(request, _("Le client « %(name)s » a été créé.") % {"name": client.name})
        return redirect("clients:detail", pk=client.pk)
    return render(request, "clients/client_form.html", {"form": form, "formset": formset})


@login_required
@require_http_methods(["GET", "POST"])
def client_edit(request: HttpRequest, pk: int) -> HttpResponse:
    client = _client_or_404(pk)
    form, formset = client_forms(
        data=request.POST if request.method == "POST" else None, instance=client
    )
    if request.method == "POST" and client_forms_valid(form, formset):
        client = client_forms_save(form, formset)
        messages.success(
            request, _("La fiche de « %(name)s » a été enregistrée.") % {"name": client.name}
        )
        return redirect("clients:detail", pk=client.pk)
    return render(
        request, "clients/client_form.html", {"form": form, "formset": formset, "client": client}
    )


# --- tags -----------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def tags(request: HttpRequest) -> HttpResponse:
    """Every tag with how many clients carry it; anyone creates a tag, administrators rename,
    recolour and delete them (a tag belongs to the whole firm)."""
    form = TagForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            tag = tag_create(name=form.cleaned_data["name"], colour=form.cleaned_data["colour"])
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            messages.success(request, _("L'étiquette « %(name)s » a été créée.") % {"name": tag})
            return redirect("clients:tags")
    rows = Tag.objects.annotate(
        client_count=Count("clients", filter=Q(clients__active=True))
    ).order_by("name")
    return render(request, "clients/tags.html", {"form": form, "tags": rows})


def _tag_or_404(pk: int) -> Tag:
    tag = Tag.objects.filter(pk=pk).first()
    if tag is None:
        raise Http404(_("Cette étiquette n'existe plus."))
    return tag


@admin_required
@require_http_methods(["GET", "POST"])
def tag_edit(request: HttpRequest, pk: int) -> HttpResponse:
    tag = _tag_or_404(pk)
    form = TagForm(request.POST if request.method == "POST" else None, instance=tag)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("L'étiquette « %(name)s » a été enregistrée.") % {"name": tag})
        return redirect("clients:tags")
    return render(request, "clients/tag_form.html", {"form": form, "tag": tag})


@admin_required
@require_POST
def tag_delete(request: HttpRequest, pk: int) -> HttpResponse:
    tag = _tag_or_404(pk)
    name = tag.name
    tag.delete()
    messages.success(
        request,
        _("L'étiquette « %(name)s » a été supprimée ; les clients qui la portaient restent.")
        % {"name": name},
    )
    return redirect("clients:tags")


# --- the selection builder and saved selections ----------------------------------------------


def _selection_from_request(
    request: HttpRequest, query: QueryDict
) -> tuple[SelectionFilters, ClientSelection | None]:
    """A saved selection asked for by ?selection= (or the builder's "load" list) gives its
    filters; otherwise the builder's fields do, and `sel-selection` remembers which saved
    selection they started from."""
    user = _user(request)
    load = query.get("selection") or query.get("sel-load")
    if load:
        pk = _id_param(load)
        loaded = selection_get(pk=pk, user=user) if pk is not None else None
        if loaded is None:
            raise Http404(_("Cette sélection n'existe pas ou n'est pas partagée avec vous."))
        return SelectionFilters.from_dict(loaded.filters), loaded
    base = _id_param(query.get("sel-selection"))
    loaded = selection_get(pk=base, user=user) if base is not None else None
    return SelectionFilters.from_query(query), loaded


def _embedded_context(
    request: HttpRequest,
    query: QueryDict,
    filters: SelectionFilters,
    loaded: ClientSelection | None,
    *,
    just_loaded: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """The builder's context; inside the compose window, with the window's hand-made changes."""
    embedded = query.get("sel-embedded") == "1"
    adjustments = None
    if embedded:
        adjustments = selection_adjustments_from(query, filters=filters, just_loaded=just_loaded)
    return selection_builder_context(
        user=_user(request),
        filters=filters,
        loaded=loaded,
        embedded=embedded,
        adjustments=adjustments,
        find=(query.get("sel-find") or "").strip()[:200] if embedded else "",
        **extra,
    )


def _render_builder(
    request: HttpRequest, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    htmx = getattr(request, "htmx", None)
    if htmx and htmx.target == "sel-results":
        template = "clients/_selection_results.html"
        # A client just added is "already in the list" in the search results too.
        context["sel_found_oob"] = bool(context.get("sel_embedded"))
    elif htmx and htmx.target == "sel-found":
        template = "clients/_selection_found.html"
    elif htmx:
        template = "clients/_selection_builder.html"
    else:
        template = "clients/selection.html"
    return render(request, template, context, status=status)


@login_required
@require_GET
def selection(request: HttpRequest) -> HttpResponse:
    """The selection builder: the filters, the count and the clients they match now."""
    filters, loaded = _selection_from_request(request, request.GET)
    just_loaded = bool(request.GET.get("selection") or request.GET.get("sel-load"))
    context = _embedded_context(request, request.GET, filters, loaded, just_loaded=just_loaded)
    return _render_builder(request, context)


@login_required
@require_POST
def selection_save_view(request: HttpRequest) -> HttpResponse:
    """Save the builder's filters under a name (the same name again replaces them)."""
    user = _user(request)
    # The filters the builder last showed (its count, its list): what the person saw is saved.
    encoded = request.POST.get("sel-query")
    filters = (
        SelectionFilters.from_query(encoded)
        if encoded is not None
        else SelectionFilters.from_query(request.POST)
    )
    form = SelectionSaveForm(request.POST)
    if form.is_valid():
        try:
            saved, created = selection_save(
                owner=user,
                name=form.cleaned_data["name"],
                filters=filters,
                shared=form.cleaned_data["shared"],
            )
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            text = (
                _("La sélection « %(name)s » a été enregistrée.")
                if created
                else _("La sélection « %(name)s » a été mise à jour.")
            )
            messages.success(request, text % {"name": saved.name})
            if not getattr(request, "htmx", False):
                return redirect(f"{reverse('clients:selection')}?selection={saved.pk}")
            context = _embedded_context(request, request.POST, filters, saved)
            context["sel_notice"] = text % {"name": saved.name}
            return _render_builder(request, context)
    base = _id_param(request.POST.get("sel-selection"))
    loaded = selection_get(pk=base, user=user) if base is not None else None
    context = _embedded_context(request, request.POST, filters, loaded, save_form=form)
    # HTMX swaps only 2xx answers by default: the form with its errors comes back as a 200.
    status = 200 if getattr(request, "htmx", False) else 400
    return _render_builder(request, context, status=status)


@login_required
@require_GET
def selections(request: HttpRequest) -> HttpResponse:
    """The saved selections one may use: one's own and those shared with the firm; each with
    its filters in words and the number of clients it selects today."""
    user = _user(request)
    rows = list(selections_for(user=user))
    filters = [SelectionFilters.from_dict(row.filters) for row in rows]
    summaries = selection_summaries(filters=filters)
    items = [
        {
            "selection": row,
            "summary": summary,
            "count": clients_matching(filters=one).count(),
            "mine": row.owner_id == user.pk,
            "can_delete": selection_can_delete(selection=row, user=user),
        }
        for row, one, summary in zip(rows, filters, summaries, strict=True)
    ]
    return render(request, "clients/selections.html", {"items": items})


def _selection_or_404(request: HttpRequest, pk: int) -> ClientSelection:
    found = selection_get(pk=pk, user=_user(request))
    if found is None:
        raise Http404(_("Cette sélection n'existe pas ou n'est pas partagée avec vous."))
    return found


@login_required
@require_POST
def selection_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    found = _selection_or_404(request, pk)
    name = found.name
    selection_delete(selection=found, by=_user(request))
    messages.success(request, _("La sélection « %(name)s » a été supprimée.") % {"name": name})
    return redirect("clients:selections")


@login_required
@require_POST
def selection_share_view(request: HttpRequest, pk: int) -> HttpResponse:
    found = _selection_or_404(request, pk)
    shared = request.POST.get("shared") == "1"
    selection_share(selection=found, by=_user(request), shared=shared)
    text = (
        _("La sélection « %(name)s » est partagée avec le cabinet.")
        if shared
        else _("La sélection « %(name)s » n'est plus partagée.")
    )
    messages.success(request, text % {"name": found.name})
    return redirect("clients:selections")


@login_required
@require_POST
def client_peppol_lookup(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Vérifier sur Peppol": whether the client is reachable on Peppol and for which
    documents, asked of its billing company's access point (else the firm's first), kept in
    its file."""
    client = _client_or_404(pk)
    back = redirect("clients:detail", pk=client.pk)
    if not client.peppol_address:
        messages.error(
            request,
            _(
                "Ce client n'a pas d'identifiant Peppol : indiquez-le dans sa fiche (ou son "
                "numéro d'entreprise s'il est belge)."
            ),
        )
        return back
    try:
        access_point = access_point_for(lookup_profile(client))
    except NoAccessPoint:
        messages.error(
            request,
            _(
                "Aucune société facturante n'a de point d'accès Peppol : configurez-en un sur la "
                "page d'une société facturante (Peppol)."
            ),
        )
        return back
    try:
        participant = client_lookup(client, access_point=access_point)
    except MailingError as exc:
        messages.error(
            request,
            _("Le point d'accès Peppol n'a pas pu répondre : %(reason)s")
            % {"reason": exc.user_message},
        )
        return back
    finally:
        access_point.close()
    if not participant.registered:
        messages.warning(
            request,
            _(
                "%(id)s n'est pas inscrit sur Peppol : ses factures partent par e-mail "
                "ou sur papier."
            )
            % {"id": participant.peppol_id},
        )
    elif participant.receives_invoices:
        messages.success(
            request,
            _("%(id)s est inscrit sur Peppol et y reçoit les factures%(notes)s.")
            % {
                "id": participant.peppol_id,
                "notes": _(" et les notes de crédit") if participant.receives_credit_notes else "",
            },
        )
    else:
        messages.warning(
            request,
            _("%(id)s est inscrit sur Peppol, mais n'y reçoit pas de factures.")
            % {"id": participant.peppol_id},
        )
    return back
