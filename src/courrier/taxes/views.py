"""The tax lists (TVA, ISOC, IPP, BNB): filters, row checkboxes and "Envoyer un email", which opens
the compose window on the chosen rows' context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from courrier.firm.models import Collaborator
from courrier.params import id_from, request_next
from courrier.taxes import contexts
from courrier.taxes.forms import FILING_FORMS, FilingFilterForm
from courrier.taxes.models import (
    AnnualAccountsFiling,
    CorporateTaxReturn,
    Filing,
    IncomeTaxReturn,
    VatReturn,
)
from courrier.taxes.selectors import filing_years, filings_list

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

ROWS_PER_PAGE = 100
# More ids than this in one click is a forged URL, not a selection.
MAX_SELECTED = 1000


@dataclass(frozen=True)
class Kind:
    """One kind of tax file: its URL slug, mail context, model and how its list is titled."""

    slug: str
    context: str
    model: type[Filing]
    title: StrOrPromise
    cells: str

    def list_url(self) -> str:
        return reverse("taxes:list", args=[self.slug])


KINDS: dict[str, Kind] = {
    kind.slug: kind
    for kind in (
        Kind("tva", contexts.VAT, VatReturn, gettext_lazy("TVA"), "taxes/_vat_cells.html"),
        Kind(
            "isoc",
            contexts.ISOC,
            CorporateTaxReturn,
            gettext_lazy("ISOC"),
            "taxes/_isoc_cells.html",
        ),
        Kind("ipp", contexts.IPP, IncomeTaxReturn, gettext_lazy("IPP"), "taxes/_ipp_cells.html"),
        Kind(
            "bnb", contexts.BNB, AnnualAccountsFiling, gettext_lazy("BNB"), "taxes/_bnb_cells.html"
        ),
    )
}


def _kind(slug: str) -> Kind:
    try:
        return KINDS[slug]
    except KeyError:
        raise Http404(_("Cette liste n'existe pas.")) from None


def _compose_url(kind: Kind, ids: list[int], next_url: str) -> str:
    query = urlencode(
        {"context": kind.context, "objects": ",".join(str(pk) for pk in ids), "next": next_url}
    )
    return f"{reverse('mailing:compose')}?{query}"


@login_required
@require_GET
def filing_index(request: HttpRequest) -> HttpResponseRedirect:
    return redirect("taxes:list", "tva")


@login_required
@require_GET
def filing_list(request: HttpRequest, slug: str) -> HttpResponse:
    kind = _kind(slug)
    form = FilingFilterForm(
        request.GET or None,
        years=filing_years(kind.model),
        with_period=kind.model is VatReturn,
    )
    rows = filings_list(model=kind.model, context=kind.context, filters=form.filters())
    page = Paginator(rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    here = request.get_full_path()
    return render(
        request,
        "taxes/filing_list.html",
        {
            "kind": kind,
            "kinds": KINDS.values(),
            "form": form,
            "page_obj": page,
            "rows": page.object_list,
            "today": timezone.localdate(),
            "here": here,
            "compose_one": f"{reverse('mailing:compose')}?"
            + urlencode({"context": kind.context, "next": here}),
        },
    )


@login_required
@require_GET
def filing_mail(request: HttpRequest, slug: str) -> HttpResponseRedirect:
    """The checked rows -> the compose window on them (one mail per row)."""
    kind = _kind(slug)
    next_url = request_next(request, fallback=kind.list_url())
    ids: list[int] = []
    for raw in request.GET.getlist("objects")[: MAX_SELECTED + 1]:
        number = id_from(raw)
        if number is not None and number not in ids:
            ids.append(number)
    if not ids:
        messages.warning(request, _("Cochez au moins une ligne avant d'envoyer un e-mail."))
        return redirect(next_url)
    if len(ids) > MAX_SELECTED:
        messages.error(
            request,
            _("Trop de lignes cochées : %(count)s au plus par envoi.") % {"count": MAX_SELECTED},
        )
        return redirect(next_url)
    return redirect(_compose_url(kind, ids, next_url))


@login_required
@require_http_methods(["GET", "POST"])
def filing_edit(request: HttpRequest, slug: str, pk: int | None = None) -> HttpResponse:
    """Create a tax file of this kind, or change one: the form goes through `filing_save`."""
    kind = _kind(slug)
    instance = get_object_or_404(kind.model, pk=pk) if pk is not None else kind.model()
    form_class = FILING_FORMS[kind.model]
    form = form_class(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        user = request.user
        assert isinstance(user, Collaborator)
        try:
            filing = form.save_filing(by=user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Enregistré : %(name)s.") % {"name": filing})
            return redirect(kind.list_url())
    return render(
        request,
        "taxes/filing_form.html",
        {"kind": kind, "form": form, "filing": instance if pk is not None else None},
    )
