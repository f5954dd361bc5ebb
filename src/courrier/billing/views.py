"""The invoice pages of a billing company: every invoice, the e-mail register (with its batch
sending), the paper register (one PDF to print); a draft's form, an invoice's page, its PDF;
the "Factures" tab of the client file.

Views only read through `selectors` and write through the billing services; every logged-in
collaborator may use them (a firm shares its invoicing).

Its size: one screen family, the registers of a billing company, whose views share the
company's look-up, the register filters and the batch pages; the client file's tab is the only
other page, a handful of lines.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from courrier.billing import selectors
from courrier.billing.forms import (
    MAX_LINES,
    BatchForm,
    InvoiceForm,
    PaperForm,
    RegisterFilterForm,
    line_formset,
    line_rows_from,
    vat_choice,
    vat_label,
    vat_split,
    vat_total_rows,
)
from courrier.billing.models import Invoice, InvoiceLine, VatCategory, VatRate
from courrier.billing.selectors import MAIL_STATES, mail_state
from courrier.billing.services import issue as issue_services
from courrier.billing.services import sending
from courrier.billing.services import ubl as ubl_services
from courrier.billing.services.paper import invoices_merged_pdf
from courrier.billing.services.totals import Totals, totals_of
from courrier.clients.selectors import client_get
from courrier.firm.models import BillingCompany, Collaborator
from courrier.firm.permissions import (
    DELETE_DRAFT,
    ISSUE_INVOICE,
    SEND_INVOICES,
    billing_required,
)
from courrier.mailing.exceptions import MailingError
from courrier.mailing.models import MailBatch
from courrier.mailing.services import PresendCheck
from courrier.params import number_from, request_next
from courrier.texts import render_all

PER_PAGE = 50


def _user(request: HttpRequest) -> Collaborator:
    return cast(Collaborator, request.user)


def _company_or_404(code: str) -> BillingCompany:
    company = selectors.company_get(code=code)
    if company is None:
        raise Http404(_("Cette société facturante n'existe pas."))
    return company


def _invoice_or_404(pk: int) -> Invoice:
    invoice = selectors.invoice_get(pk=pk)
    if invoice is None:
        raise Http404(_("Cette facture n'existe pas."))
    return invoice


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(str(message) for message in exc.messages)
    if isinstance(exc, MailingError):
        return exc.user_message
    return str(exc)


def _with_states(invoices: Any) -> list[Invoice]:
    """The rows of a page, each with its mail state (a MAIL_STATES key) and label."""
    rows = list(invoices)
    for invoice in rows:
        state = mail_state(
            getattr(invoice, "mail_status", None), getattr(invoice, "mail_delivery", None)
        )
        invoice.mail_state = state  # type: ignore[attr-defined]
        invoice.mail_label = MAIL_STATES[state]  # type: ignore[attr-defined]
    return rows


def _register_page(request: HttpRequest, company: BillingCompany, register: str) -> dict[str, Any]:
    form = RegisterFilterForm(request.GET or None, register=register)
    filters = form.filters() if request.GET else selectors.InvoiceFilters()
    invoices = selectors.company_invoices(company=company, register=register, filters=filters)
    page = Paginator(invoices, PER_PAGE).get_page(request.GET.get("page"))
    return {
        "company": company,
        "companies": selectors.companies(),
        "filter_form": form,
        "filtered": any((filters.date_from, filters.date_to, filters.status, filters.query)),
        "page_obj": page,
        "invoices": _with_states(page.object_list),
        "register": register,
    }


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The billing companies; with only one, its invoices straight away."""
    companies = list(selectors.companies())
    if len(companies) == 1:
        return redirect("billing:invoices", code=companies[0].code)
    return render(request, "billing/companies.html", {"companies": companies})


@require_GET
def invoice_list(request: HttpRequest, code: str) -> HttpResponse:
    company = _company_or_404(code)
    context = _register_page(request, company, "")
    context["section"] = "all"
    return render(request, "billing/invoice_list.html", context)


def _sending_register(request: HttpRequest, code: str, register: str) -> HttpResponse:
    """The Peppol or the e-mail register: its invoices, and the batch that sends the unsent
    ones of both, each its client's way."""
    company = _company_or_404(code)
    context = _register_page(request, company, register)
    context.update(section=register, batch_form=BatchForm(initial={"scope": "unsent"}))
    context["batches"] = _with_contents(selectors.company_batches(company=company))
    context["unsent_count"] = sum(
        selectors.company_invoices(
            company=company, register=one, filters=selectors.InvoiceFilters(status="unsent")
        ).count()
        for one in (Invoice.Register.PEPPOL, Invoice.Register.EMAIL)
    )
    return render(request, "billing/email_register.html", context)


@require_GET
def email_register(request: HttpRequest, code: str) -> HttpResponse:
    return _sending_register(request, code, Invoice.Register.EMAIL)


@require_GET
def peppol_register(request: HttpRequest, code: str) -> HttpResponse:
    return _sending_register(request, code, Invoice.Register.PEPPOL)


@require_GET
def paper_register(request: HttpRequest, code: str) -> HttpResponse:
    company = _company_or_404(code)
    context = _register_page(request, company, Invoice.Register.PAPER)
    context["section"] = "paper"
    return render(request, "billing/paper_register.html", context)


@require_GET
def client_invoices(request: HttpRequest, client_pk: int) -> HttpResponse:
    """The "Factures" tab of the client file: the client's invoices and credit notes, newest
    first, a page at a time, each with the state of its latest mail as the registers show it.
    Open to whoever opens the invoice pages (every logged-in collaborator: the login
    middleware checks it); the tab's content is the whole file, as the other tabs'."""
    client = client_get(pk=client_pk)
    if client is None:
        raise Http404(_("Ce client n'existe pas."))
    page = Paginator(selectors.client_invoices(client=client), PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "client": client,
        "tab": "invoices",
        "page_obj": page,
        "invoices": _with_states(page.object_list),
    }
    return render(request, "clients/client_detail.html", context)


# --- A draft: create, edit, lines ---------------------------------------------------------


def _preview_totals(rows: list[dict[str, str]]) -> Totals | None:
    """The totals of the lines as typed, for the form; None while a figure is not a number."""
    lines = []
    for row in rows:
        if not row["description"].strip() and not row["unit_price"].strip():
            continue
        try:
            quantity = Decimal(row["quantity"].strip() or "1")
            price = Decimal(row["unit_price"].strip() or "0")
        except ArithmeticError:
            return None
        rate, category = vat_split(row["vat"])
        if (
            not quantity.is_finite()
            or not price.is_finite()
            or rate not in VatRate.values
            or category not in VatCategory.values
        ):
            return None
        lines.append(
            InvoiceLine(quantity=quantity, unit_price=price, vat_rate=rate, vat_category=category)
        )
    try:
        return totals_of(lines)
    except ArithmeticError:  # a figure too large to round to the cent
        return None


def _service_error(form: InvoiceForm, exc: ValidationError) -> None:
    """A service's refusal on the form: the exemption reason's on its field, the others above
    the form."""
    for error in exc.error_list:
        field = "vat_exemption_reason" if error.code == "vat_exemption_reason" else None
        form.add_error(field, error)


def _draft_form_context(
    *, company: BillingCompany, form: InvoiceForm, formset: Any, invoice: Invoice | None
) -> dict[str, Any]:
    rows = line_rows_from(formset.data) if formset.is_bound else None
    totals = _preview_totals(rows) if rows is not None else None
    return {
        "company": company,
        "companies": selectors.companies(),
        "form": form,
        "formset": formset,
        "invoice": invoice,
        "totals": totals,
        "vat_rows": vat_total_rows(totals),
        "section": "create" if invoice is None else "",
    }


@require_http_methods(["GET", "POST"])
def invoice_create(request: HttpRequest, code: str) -> HttpResponse:
    company = _company_or_404(code)
    if request.method == "POST":
        form = InvoiceForm(request.POST, company=company)
        formset = line_formset(data=request.POST)
        if form.is_valid() and formset.is_valid():
            data = form.cleaned_data
            try:
                invoice = issue_services.invoice_create(
                    billing_company=company,
                    client=data["client"],
                    kind=data["kind"],
                    issue_date=data["issue_date"],
                    due_date=data["due_date"],
                    lines=formset.lines(),
                    reference=data["reference"],
                    order_reference=data["order_reference"],
                    vat_exemption_reason=data["vat_exemption_reason"],
                    notes=data["notes"],
                    by=_user(request),
                )
            except ValidationError as exc:
                _service_error(form, exc)
            else:
                messages.success(request, _("Le brouillon a été enregistré."))
                return redirect("billing:invoice", pk=invoice.pk)
    else:
        client_id = request.GET.get("client", "")
        form = InvoiceForm(
            company=company,
            initial={
                "issue_date": timezone.localdate(),
                "kind": Invoice.Kind.INVOICE,
                "client": int(client_id) if client_id.isdigit() and len(client_id) < 18 else None,
            },
        )
        formset = line_formset()
    context = _draft_form_context(company=company, form=form, formset=formset, invoice=None)
    return render(request, "billing/invoice_form.html", context)


@require_http_methods(["GET", "POST"])
def invoice_edit(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = _invoice_or_404(pk)
    company = invoice.billing_company
    if invoice.is_issued:
        messages.error(
            request, _("Une facture émise ne se modifie plus : faites une note de crédit.")
        )
        return redirect("billing:invoice", pk=invoice.pk)
    if request.method == "POST":
        form = InvoiceForm(request.POST, company=company, draft=invoice)
        formset = line_formset(data=request.POST)
        if form.is_valid() and formset.is_valid():
            data = form.cleaned_data
            try:
                issue_services.invoice_update(
                    invoice=invoice,
                    issue_date=data["issue_date"],
                    due_date=data["due_date"],
                    lines=formset.lines(),
                    reference=data["reference"],
                    order_reference=data["order_reference"],
                    vat_exemption_reason=data["vat_exemption_reason"],
                    notes=data["notes"],
                    by=_user(request),
                )
            except ValidationError as exc:
                _service_error(form, exc)
            else:
                messages.success(request, _("Le brouillon a été enregistré."))
                return redirect("billing:invoice", pk=invoice.pk)
    else:
        form = InvoiceForm(
            company=company,
            draft=invoice,
            initial={
                "issue_date": invoice.issue_date,
                "due_date": invoice.due_date,
                "reference": invoice.reference,
                "order_reference": invoice.order_reference,
                "vat_exemption_reason": invoice.vat_exemption_reason,
                "notes": invoice.notes,
            },
        )
        formset = line_formset(
            rows=[
                {
                    "description": line.description,
                    "quantity": line.quantity.normalize(),
                    "unit_price": line.unit_price,
                    "vat": vat_choice(line.vat_rate, line.vat_category),
                }
                for line in invoice.lines.all()
            ]
        )
    context = _draft_form_context(company=company, form=form, formset=formset, invoice=invoice)
    return render(request, "billing/invoice_form.html", context)


@require_POST
def invoice_lines(request: HttpRequest, code: str) -> HttpResponse:
    """The lines of a draft's form again, with a row added or one removed, and the totals of
    what is typed (htmx); nothing is saved."""
    company = _company_or_404(code)
    rows = line_rows_from(request.POST)
    action = request.POST.get("lines-action", "")
    if action == "add" and len(rows) < MAX_LINES:
        rows.append({"description": "", "quantity": "1", "unit_price": "", "vat": "21"})
    elif action.startswith("remove-"):
        index = number_from(action[7:], high=len(rows) - 1)
        if index is not None:
            rows.pop(index)
    totals = _preview_totals(rows)
    return render(
        request,
        "billing/_lines.html",
        {
            "company": company,
            "formset": line_formset(rows=rows),
            "totals": totals,
            "vat_rows": vat_total_rows(totals),
        },
    )


# --- One invoice ---------------------------------------------------------------------------


@require_GET
def invoice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = _invoice_or_404(pk)
    mails = list(selectors.invoice_mails(invoice=invoice))
    for mail in mails:
        mail.state = mail_state(mail.status, mail.delivery_status)  # type: ignore[attr-defined]
        mail.state_label = MAIL_STATES[mail.state]  # type: ignore[attr-defined]
    lines = list(invoice.lines.all())
    for line in lines:
        line.vat_label = vat_label(line.vat_rate, line.vat_category)  # type: ignore[attr-defined]
    totals = totals_of(lines)
    return render(
        request,
        "billing/invoice_detail.html",
        {
            "invoice": invoice,
            "company": invoice.billing_company,
            "companies": selectors.companies(),
            "lines": lines,
            "totals": totals,
            "vat_rows": vat_total_rows(totals),
            "mails": mails,
            "credit_notes": list(invoice.credit_notes.order_by("-id")),
        },
    )


@require_GET
def invoice_pdf(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The PDF as issued: attached (download) or inline (?inline=1)."""
    invoice = _invoice_or_404(pk)
    if not invoice.is_issued or not invoice.pdf:
        raise Http404(_("Cette facture n'a pas encore de PDF : il est créé à l'émission."))
    try:
        handle = invoice.pdf.open("rb")
    except OSError as exc:
        raise Http404(_("Le PDF de cette facture est introuvable sur le disque.")) from exc
    name = pdf_filename(invoice)
    response = FileResponse(handle, content_type="application/pdf")
    response["Content-Disposition"] = (
        content_disposition_header(not request.GET.get("inline"), name) or "attachment"
    )
    return response


def pdf_filename(invoice: Invoice) -> str:
    kind = _("Note-de-credit") if invoice.kind == Invoice.Kind.CREDIT_NOTE else _("Facture")
    return f"{kind}-{invoice.year}-{invoice.number:04d}.pdf"


@require_http_methods(["GET", "POST"])
def invoice_ubl(request: HttpRequest, pk: int) -> HttpResponse:
    """The Peppol e-invoice as stored (GET), or made, validated and stored (POST: "Générer et
    valider"), back to the invoice's page with what the validation found."""
    invoice = _invoice_or_404(pk)
    if not invoice.is_issued:
        raise Http404(_("Un brouillon n'a pas de facture électronique."))
    if request.method == "POST":
        try:
            ubl_services.invoice_ubl_ensure(invoice)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, _("La facture électronique est valide et enregistrée."))
        return redirect("billing:invoice", pk=invoice.pk)
    if not invoice.ubl:
        raise Http404(_("Cette facture n'a pas encore de facture électronique."))
    try:
        content = ubl_services.invoice_ubl_bytes(invoice)
    except ValidationError as exc:
        raise Http404(_error_text(exc)) from exc
    response = HttpResponse(content, content_type="application/xml")
    name = pdf_filename(invoice).removesuffix(".pdf") + ".xml"
    response["Content-Disposition"] = content_disposition_header(True, name) or "attachment"
    return response


def _issue_confirmation(
    request: HttpRequest, invoice: Invoice, *, error: str = "", status: int = 200
) -> HttpResponse:
    """What issuing will do, before it is done: the number it takes, the register, a mail
    leaving at once, and that it cannot be undone."""
    register = issue_services.register_for(
        invoice.client, peppol=issue_services.sends_by_peppol(invoice.billing_company)
    )
    company = invoice.billing_company
    number = selectors.next_number(invoice=invoice)
    return render(
        request,
        "billing/issue_confirm.html",
        {
            "invoice": invoice,
            "company": company,
            "number": number,
            "year": invoice.issue_date.year,
            "expected": int(number.split("/")[1]),
            "register_label": Invoice.Register(register).label,
            "sent_at_once": register in (Invoice.Register.EMAIL, Invoice.Register.PEPPOL)
            and company.send_invoices_on_issue,
            "addresses": invoice.client.invoice_addresses(),
            "error": error,
        },
        status=status,
    )


@billing_required(ISSUE_INVOICE)
@require_http_methods(["GET", "POST"])
def invoice_issue(request: HttpRequest, pk: int) -> HttpResponse:
    """Issuing is irreversible and takes a legal number: GET (or a POST that does not carry
    the confirmed number) shows what will happen; only the confirmed POST issues."""
    invoice = _invoice_or_404(pk)
    if invoice.is_issued:
        messages.info(request, _("Cette facture est déjà émise."))
        return redirect("billing:invoice", pk=invoice.pk)
    expected = request.POST.get("number", "") if request.method == "POST" else ""
    year = request.POST.get("year", "")
    if not (expected.isdigit() and len(expected) < 10 and request.POST.get("confirm")):
        return _issue_confirmation(request, invoice)
    if year != str(invoice.issue_date.year):
        # The draft's date changed since the confirmation was shown: show it again.
        return _issue_confirmation(
            request,
            invoice,
            error=_("La date du brouillon a changé depuis : vérifiez le numéro et confirmez."),
            status=409,
        )
    try:
        invoice = issue_services.invoice_issue(
            invoice=invoice, by=_user(request), expected_number=int(expected)
        )
    except ValidationError as exc:
        if getattr(exc, "code", None) == "number_changed":
            return _issue_confirmation(request, invoice, error=_error_text(exc), status=409)
        messages.error(
            request, _("La facture n'a pas été émise : %(why)s") % {"why": _error_text(exc)}
        )
    else:
        messages.success(
            request,
            _("%(kind)s %(number)s émise ; elle est dans le %(register)s.")
            % {
                "kind": invoice.get_kind_display().capitalize(),
                "number": invoice.display_number,
                "register": invoice.get_register_display(),
            },
        )
        # With the company's option "send on issue", issuing queued its mail; else it waits
        # for a batch of the e-mail register.
        if (
            invoice.register == Invoice.Register.EMAIL
            and invoice.billing_company.send_invoices_on_issue
        ):
            messages.info(request, _("Elle part par e-mail dès maintenant."))
    return redirect("billing:invoice", pk=invoice.pk)


@billing_required(DELETE_DRAFT)
@require_POST
def invoice_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """A draft thrown away (an issued invoice never is: a credit note corrects it)."""
    invoice = _invoice_or_404(pk)
    code = invoice.billing_company.code
    try:
        issue_services.invoice_delete(invoice=invoice, by=_user(request))
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("billing:invoice", pk=invoice.pk)
    messages.success(request, _("Le brouillon a été supprimé."))
    return redirect("billing:invoices", code=code)


@require_POST
def credit_note_create(request: HttpRequest, pk: int) -> HttpResponse:
    """A draft credit note for an issued invoice, with its lines, to adjust and issue."""
    invoice = _invoice_or_404(pk)
    if not invoice.is_issued or invoice.kind != Invoice.Kind.INVOICE:
        messages.error(request, _("Seule une facture émise peut être créditée."))
        return redirect("billing:invoice", pk=invoice.pk)
    try:
        note = issue_services.credit_note_create(invoice=invoice, by=_user(request))
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("billing:invoice", pk=invoice.pk)
    messages.success(
        request,
        _(
            "Brouillon de note de crédit pour la facture %(number)s : "
            "vérifiez les lignes, puis émettez-la."
        )
        % {"number": invoice.display_number},
    )
    return redirect("billing:invoice_edit", pk=note.pk)


@billing_required(SEND_INVOICES)
@require_POST
def invoice_resend(request: HttpRequest, pk: int) -> HttpResponse:
    """ "@": the invoice by e-mail, the same PDF. Its first mail when it has none yet (a later
    batch then leaves it out), else a re-send recorded as such in the client file."""
    invoice = _invoice_or_404(pk)
    error = ""
    if not invoice.is_issued:
        error = _("Un brouillon ne s'envoie pas : émettez-le d'abord.")
    else:
        first = not selectors.invoice_mails(invoice=invoice).exists()
        send = sending.invoice_send if first else sending.invoice_resend
        try:
            send(invoice=invoice, by=_user(request))
        except (ValidationError, MailingError) as exc:
            error = _("La facture n'a pas été envoyée : %(why)s") % {"why": _error_text(exc)}
    if _is_htmx(request):
        row = selectors.with_mail(Invoice.objects.filter(pk=invoice.pk)).get()
        return render(
            request,
            "billing/_mail_cell.html",
            {"invoice": _with_states([row])[0], "error": error, "resent": not error},
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(
            request,
            _("La facture %(number)s part par e-mail.") % {"number": invoice.display_number},
        )
    return redirect(
        request_next(request, fallback=reverse("billing:invoice", kwargs={"pk": invoice.pk}))
    )


# --- The e-mail register's batch -----------------------------------------------------------


def _batch_choice(request: HttpRequest, company: BillingCompany) -> tuple[BatchForm, list[Invoice]]:
    form = BatchForm(request.POST)
    if not form.is_valid():
        return form, []
    data = form.cleaned_data
    if data["scope"] == "selection":
        # Ticked in the e-mail or the Peppol register: a batch sends each its client's way.
        chosen = selectors.register_invoices(
            company=company,
            register=(Invoice.Register.EMAIL, Invoice.Register.PEPPOL),
            ids=data["invoices"],
        )
    else:
        chosen = selectors.unsent_invoices(
            company=company,
            date_from=data["batch_from"] if data["scope"] == "range" else None,
            date_to=data["batch_to"] if data["scope"] == "range" else None,
        )
    if not chosen:
        form.add_error(None, _("Aucune facture à envoyer dans ce choix."))
    return form, chosen


@require_POST
def email_presend(request: HttpRequest, code: str) -> HttpResponse:
    """The pre-send check of the chosen invoices: the blocked ones with their reasons, the
    warnings, how many will go."""
    company = _company_or_404(code)
    form, chosen = _batch_choice(request, company)
    context: dict[str, Any] = {"company": company, "batch_form": form, "chosen": chosen}
    if chosen:
        checks = list(sending.invoice_presend_check(invoices=chosen, by=_user(request)))
        context.update(_check_summary(checks))
    if not _is_htmx(request):
        # Without the script the register's form posts here: the check comes as a page of its
        # own whose button sends exactly the choice that was checked.
        context["choice"] = [
            (name, value)
            for name in ("scope", "batch_from", "batch_to", "invoices")
            for value in request.POST.getlist(name)
        ]
        return render(request, "billing/presend_page.html", context)
    return render(request, "billing/_presend.html", context)


def _check_summary(checks: list[PresendCheck]) -> dict[str, Any]:
    """Blocked invoices one by one with their reasons; warnings grouped by their text (the
    same Peppol warning for twelve invoices is said once, with the twelve numbers)."""
    blocked = [check for check in checks if not check.ok]
    warned: dict[str, list[Invoice]] = {}
    for check in checks:
        if not check.ok:
            continue
        for text in render_all(check.warnings):  # grouped by their words in the reader's language
            warned.setdefault(text, []).append(check.about)
    return {
        "checks": checks,
        "blocked": blocked,
        "warned": list(warned.items()),
        "sendable": len(checks) - len(blocked),
        "credit_notes": sum(1 for check in checks if check.about.is_credit_note and check.ok),
    }


@billing_required(SEND_INVOICES)
@require_POST
def email_send(request: HttpRequest, code: str) -> HttpResponse:
    """Start the batch of the chosen invoices (the blocked ones are left out by the batch) and
    follow it on its page."""
    company = _company_or_404(code)
    form, chosen = _batch_choice(request, company)
    register_url = reverse("billing:email_register", kwargs={"code": company.code})
    if not chosen:
        errors = [str(error) for errors in form.errors.values() for error in errors]
        for error in errors or [_("Aucune facture à envoyer dans ce choix.")]:
            messages.error(request, error)
        return _go(request, register_url)
    try:
        batch = sending.invoice_batch_start(invoices=chosen, by=_user(request))
    except (ValidationError, MailingError) as exc:
        messages.error(request, _("L'envoi n'a pas commencé : %(why)s") % {"why": _error_text(exc)})
        return _go(request, register_url)
    return _go(request, reverse("billing:batch", kwargs={"code": company.code, "pk": batch.pk}))


def _go(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect; for htmx, a whole-page one."""
    if _is_htmx(request):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _batch_context(company: BillingCompany, batch: MailBatch) -> dict[str, Any]:
    ids = [int(pk) for pk in batch.object_ids or []]
    invoices = _with_states(selectors.batch_invoices(ids=ids))
    by_id = {invoice.pk: invoice for invoice in invoices}
    blocked = []
    for key, reasons in (batch.blocked or {}).items():
        invoice = by_id.get(int(key)) if str(key).isdigit() else None
        # Stored as Texts (plain strings in older batches): in the reader's language.
        blocked.append((invoice, render_all(reasons if isinstance(reasons, list) else [reasons])))
    blocked_ids = {invoice.pk for invoice, _reasons in blocked if invoice is not None}
    counts = {state: 0 for state in MAIL_STATES}
    for invoice in invoices:
        if invoice.pk not in blocked_ids:
            counts[invoice.mail_state] += 1  # type: ignore[attr-defined]
    composing = batch.state in (MailBatch.State.PENDING, MailBatch.State.COMPOSING)
    if composing:
        for invoice in invoices:
            if invoice.mail_state == "unsent":  # type: ignore[attr-defined]
                invoice.mail_label = _("en préparation")  # type: ignore[attr-defined]
    # The registers say "en file d'attente" for every mail still to leave; a batch's page says
    # which of them wait for a new try and which for their profile to be fixed.
    waiting = {"retry": _("nouvel essai prévu"), "held": _("en attente du paramétrage")}
    for key in waiting:
        counts[key] = 0
    for invoice in invoices:
        status = getattr(invoice, "mail_status", None)
        if invoice.pk not in blocked_ids and status in waiting:
            invoice.mail_label = waiting[status]  # type: ignore[attr-defined]
            invoice.mail_waiting = status  # type: ignore[attr-defined]
            counts[status] += 1
            counts["queued"] -= 1
    in_flight = (
        counts["queued"] + counts["retry"] + counts["held"] + (counts["unsent"] if composing else 0)
    )
    total = batch.total or len(ids)
    prepared = batch.queued + len(blocked)
    return {
        "company": company,
        "batch": batch,
        **_batch_titles(invoices, [invoice for invoice, _reasons in blocked if invoice]),
        "invoices": [invoice for invoice in invoices if invoice.pk not in blocked_ids],
        "blocked": blocked,
        "counts": counts,
        "sent": counts["sent"] + counts["delivered"],
        "failed": counts["failed"] + counts["bounced"],
        "uncertain": counts["uncertain"],
        "total": total,
        "prepared": min(prepared, total),
        "done_count": counts["sent"]
        + counts["delivered"]
        + counts["failed"]
        + counts["bounced"]
        + counts["uncertain"]
        + len(blocked),
        "finished": not composing and in_flight == 0,
        "composing": composing,
    }


def _with_contents(batches: list[MailBatch]) -> list[MailBatch]:
    """The batches, each with what it held said in words ("3 factures et 1 note de crédit"),
    read in one query for all of them."""
    ids = {int(pk) for batch in batches for pk in batch.object_ids or [] if str(pk).isdigit()}
    notes = set(
        Invoice.objects.filter(pk__in=ids, kind=Invoice.Kind.CREDIT_NOTE).values_list(
            "pk", flat=True
        )
    )
    for batch in batches:
        held = [int(pk) for pk in batch.object_ids or [] if str(pk).isdigit()]
        credit = sum(1 for pk in held if pk in notes)
        invoices = ngettext("%(count)d facture", "%(count)d factures", len(held) - credit) % {
            "count": len(held) - credit
        }
        credit_notes = ngettext("%(count)d note de crédit", "%(count)d notes de crédit", credit) % {
            "count": credit
        }
        if not credit:
            contents = invoices
        elif credit == len(held):
            contents = credit_notes
        else:
            # Translators: joins a count of invoices and a count of credit notes.
            contents = _("%(invoices)s et %(credit_notes)s") % {
                "invoices": invoices,
                "credit_notes": credit_notes,
            }
        batch.contents = contents  # type: ignore[attr-defined]
    return batches


def _batch_titles(invoices: list[Invoice], blocked: list[Invoice]) -> dict[str, str]:
    """The batch page's title and its blocked list's, naming what they hold: invoices,
    credit notes, or both."""

    def kinds(rows: list[Invoice]) -> tuple[bool, bool]:
        notes = sum(1 for invoice in rows if invoice.is_credit_note)
        return notes < len(rows), notes > 0

    has_invoices, has_notes = kinds(invoices)
    if has_notes and has_invoices:
        title = _("Envoi d'un lot de factures et de notes de crédit")
    elif has_notes:
        title = _("Envoi d'un lot de notes de crédit")
    else:
        title = _("Envoi d'un lot de factures")
    has_invoices, has_notes = kinds(blocked)
    if has_notes and has_invoices:
        blocked_title = _("Factures et notes de crédit bloquées (rien ne leur est envoyé)")
    elif has_notes:
        blocked_title = _("Notes de crédit bloquées (rien ne leur est envoyé)")
    else:
        blocked_title = _("Factures bloquées (rien ne leur est envoyé)")
    return {"title": title, "blocked_title": blocked_title}


@require_GET
def batch_detail(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    """A batch of invoices: a progress bar while it is prepared and sent, then the summary."""
    company = _company_or_404(code)
    # Another company's batch is not found here, whatever its number.
    batch = selectors.batch_of_company(company=company, pk=pk)
    if batch is None:
        raise Http404(_("Cet envoi n'existe pas."))
    context = _batch_context(company, batch)
    template = "billing/_batch_progress.html" if _is_htmx(request) else "billing/batch.html"
    return render(request, template, context)


# --- The paper register's PDF -----------------------------------------------------------


@require_POST
def paper_pdf(request: HttpRequest, code: str) -> HttpResponse:
    """The chosen invoices of the paper register in one PDF, in number order, to print."""
    company = _company_or_404(code)
    form = PaperForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("invoices") or [_("Cochez au moins une facture à imprimer.")]:
            messages.error(request, str(error))
        return redirect(_back_to_paper(request, company))
    chosen = selectors.register_invoices(
        company=company, register=Invoice.Register.PAPER, ids=form.cleaned_data["invoices"]
    )
    if not chosen:
        messages.error(request, _("Aucune des factures cochées n'est dans le registre papier."))
        return redirect(_back_to_paper(request, company))
    try:
        content = invoices_merged_pdf(chosen)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return redirect(_back_to_paper(request, company))
    first, last = chosen[0], chosen[-1]
    name = f"{company.code}-{first.year}-{first.number:04d}"
    if len(chosen) > 1:
        name += f"-{last.year}-{last.number:04d}"
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = (
        content_disposition_header(True, f"{name}.pdf") or "attachment"
    )
    return response


def _back_to_paper(request: HttpRequest, company: BillingCompany) -> str:
    return request_next(
        request, fallback=reverse("billing:paper_register", kwargs={"code": company.code})
    )
