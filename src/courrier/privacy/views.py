"""A client's data exported or erased on request, from the client file. Administrators only:
a collaborator gets the 403 page."""

from __future__ import annotations

import tempfile

from django import forms
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from courrier.billing.models import Invoice
from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.firm.permissions import admin_required
from courrier.privacy import services


def _client_or_404(pk: int) -> Client:
    client = Client.objects.filter(pk=pk).first()
    if client is None:
        raise Http404(_("Ce client n'existe pas."))
    return client


def _user(request: HttpRequest) -> Collaborator:
    assert isinstance(request.user, Collaborator)
    return request.user


@admin_required
@require_GET
def client_export(request: HttpRequest, pk: int) -> FileResponse:
    """Everything of the client as one ZIP, built in a temporary file and streamed."""
    client = _client_or_404(pk)
    out = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the response)
    services.client_export(client=client, by=_user(request), out=out)
    out.seek(0)
    name = f"{get_valid_filename(client.number) or 'client'}-donnees.zip"
    response = FileResponse(out, content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, name) or "attachment"
    return response


class ErasureForm(forms.Form):
    number = forms.CharField(
        label=gettext_lazy("Numéro du client, pour confirmer"), max_length=20, strip=True
    )

    def __init__(self, *args: object, client: Client, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.client = client

    def clean_number(self) -> str:
        number = str(self.cleaned_data["number"])
        if number != self.client.number:
            raise forms.ValidationError(
                _("Ce n'est pas le numéro de ce client : rien n'a été effacé.")
            )
        return number


@admin_required
@require_http_methods(["GET", "POST"])
def client_erase(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what will be erased and what is kept; POST with the client's number: erase."""
    client = _client_or_404(pk)
    erasure = services.client_erasure(client)
    form = ErasureForm(request.POST or None, client=client)
    if request.method == "POST" and erasure is None and form.is_valid():
        report = services.client_erase(client=client, by=_user(request))
        mails = report.mails + report.invoice_mails
        erased = ", ".join(
            [
                ngettext("%(count)s mail", "%(count)s mails", mails) % {"count": mails},
                ngettext("%(count)s document", "%(count)s documents", report.documents)
                % {"count": report.documents},
                ngettext("%(count)s adresse e-mail", "%(count)s adresses e-mail", report.addresses)
                % {"count": report.addresses},
            ]
        )
        kept = ngettext(
            "%(count)s facture émise est conservée.",
            "%(count)s factures émises sont conservées.",
            report.invoices_kept,
        ) % {"count": report.invoices_kept}
        messages.success(
            request,
            _("Les données du client %(number)s ont été effacées : %(erased)s. %(kept)s")
            % {"number": client.number, "erased": erased, "kept": kept},
        )
        return HttpResponseRedirect(reverse("clients:detail", args=[client.pk]))
    context = {
        "client": client,
        "form": form,
        "erasure": erasure,
        "mails": client.messages.count(),
        "documents": client.documents.count(),
        "addresses": client.emails.count(),
        "invoices": Invoice.objects.filter(client=client, status=Invoice.Status.ISSUED).count(),
    }
    return render(request, "privacy/client_erase.html", context, status=200)
