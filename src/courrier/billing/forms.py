"""Forms of the invoice pages: a draft and its lines, the register filters, a batch's choice."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from courrier.billing.models import Invoice, VatRate
from courrier.billing.selectors import MAIL_STATES, InvoiceFilters
from courrier.clients.models import Client
from courrier.firm.models import BillingCompany

MAX_LINES = 200
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ClientChoiceField(forms.ModelChoiceField[Client]):
    def label_from_instance(self, obj: Client) -> str:
        return f"{obj.display_name} ({obj.number})"


class InvoiceForm(forms.Form):
    """The head of a draft: who, when, what kind; the due date follows the company's term when
    left empty."""

    client = ClientChoiceField(
        label=_("Client"), queryset=Client.objects.none(), empty_label=_("— choisir un client —")
    )
    kind = forms.ChoiceField(label=_("Type"), choices=Invoice.Kind.choices)
    issue_date = forms.DateField(label=_("Date de facture"), widget=DATE_INPUT)
    due_date = forms.DateField(
        label=_("Échéance"),
        required=False,
        widget=DATE_INPUT,
        help_text=_("Laissez vide pour le délai de paiement de la société facturante."),
    )
    reference = forms.CharField(label=_("Votre référence"), max_length=100, required=False)
    notes = forms.CharField(
        label=_("Mentions"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(
        self, *args: Any, company: BillingCompany, draft: Invoice | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.company = company
        field = self.fields["client"]
        assert isinstance(field, ClientChoiceField)
        if draft is not None:
            # A draft keeps its client and kind: another client is another draft.
            self.initial.update(client=draft.client_id, kind=draft.kind)
            field.disabled = True
            self.fields["kind"].disabled = True
        field.queryset = Client.objects.filter(
            Q(billing_company=company) | Q(billing_company__isnull=True), active=True
        ).order_by("name", "number")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        issue, due = data.get("issue_date"), data.get("due_date")
        if issue and due and due < issue:
            self.add_error("due_date", _("L'échéance ne peut pas précéder la date de facture."))
        return data


class LineForm(forms.Form):
    description = forms.CharField(label=_("Description"), max_length=500)
    quantity = forms.DecimalField(
        label=_("Quantité"),
        max_digits=12,
        decimal_places=3,
        min_value=Decimal("0"),
        initial=Decimal("1"),
        widget=forms.NumberInput(attrs={"step": "any", "class": "num"}),
    )
    unit_price = forms.DecimalField(
        label=_("Prix unitaire HTVA"),
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0"),
        widget=forms.NumberInput(attrs={"step": "0.01", "class": "num"}),
    )
    vat_rate = forms.ChoiceField(
        label=_("Taux de TVA"), choices=VatRate.choices, initial=VatRate.TWENTYONE
    )


class BaseLineFormSet(forms.BaseFormSet[LineForm]):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        if not self.lines():
            raise forms.ValidationError(_("Ajoutez au moins une ligne à la facture."))

    def lines(self) -> list[dict[str, Any]]:
        """The filled lines, in their order: description, quantity, unit_price, vat_rate."""
        rows = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or not data.get("description"):
                continue
            rows.append(
                {
                    "description": data["description"],
                    "quantity": data["quantity"],
                    "unit_price": data["unit_price"],
                    "vat_rate": data["vat_rate"],
                }
            )
        return rows


LineFormSet = forms.formset_factory(
    LineForm,
    formset=BaseLineFormSet,
    extra=0,
    max_num=MAX_LINES,
    validate_max=True,
)

LINE_PREFIX = "lines"
_LINE_KEYS = ("description", "quantity", "unit_price", "vat_rate")


def line_rows_from(data: Any) -> list[dict[str, str]]:
    """The rows as typed in a posted lines formset, unchecked (for adding or removing a row)."""
    try:
        total = int(data.get(f"{LINE_PREFIX}-TOTAL_FORMS", "0"))
    except (TypeError, ValueError):
        total = 0
    rows = []
    for index in range(max(0, min(total, MAX_LINES))):
        rows.append(
            {key: str(data.get(f"{LINE_PREFIX}-{index}-{key}", ""))[:500] for key in _LINE_KEYS}
        )
    return rows


def line_formset(*, data: Any = None, rows: list[dict[str, Any]] | None = None) -> BaseLineFormSet:
    """The lines formset: bound to posted data, or showing these rows (one empty row at least)."""
    if data is not None:
        return LineFormSet(data=data, prefix=LINE_PREFIX)  # type: ignore[return-value]
    initial = rows or [{"quantity": Decimal("1"), "vat_rate": VatRate.TWENTYONE}]
    return LineFormSet(initial=initial, prefix=LINE_PREFIX)  # type: ignore[return-value]


class RegisterFilterForm(forms.Form):
    """Filters of a list or register page (GET): dates, status, client search."""

    date_from = forms.DateField(label=_("Du"), required=False, widget=DATE_INPUT)
    date_to = forms.DateField(label=_("Au"), required=False, widget=DATE_INPUT)
    status = forms.ChoiceField(label=_("État"), required=False)
    q = forms.CharField(label=_("Client"), required=False, max_length=200)

    def __init__(self, *args: Any, register: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["status"]
        assert isinstance(field, forms.ChoiceField)
        if register == Invoice.Register.EMAIL:
            field.label = _("E-mail")
            field.choices = [("", _("— tous —")), *MAIL_STATES.items()]
        elif register:
            field.widget = forms.HiddenInput()
        else:
            field.choices = [("", _("— tous —")), *Invoice.Status.choices]

    def filters(self) -> InvoiceFilters:
        """The valid filters; a bad value is dropped (and reported on the form)."""
        data = self.cleaned_data if self.is_valid() else {}
        return InvoiceFilters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            status=data.get("status") or "",
            query=(data.get("q") or "").strip(),
        )


class BatchForm(forms.Form):
    """Which invoices of the e-mail register to send: all unsent, a date range, or the rows
    ticked in the register."""

    SCOPES = [
        ("unsent", _("Toutes les factures non envoyées")),
        ("range", _("Les factures non envoyées d'une période")),
        ("selection", _("Les factures cochées")),
    ]

    scope = forms.ChoiceField(
        label=_("Factures à envoyer"), choices=SCOPES, widget=forms.RadioSelect, initial="unsent"
    )
    batch_from = forms.DateField(label=_("Du"), required=False, widget=DATE_INPUT)
    batch_to = forms.DateField(label=_("Au"), required=False, widget=DATE_INPUT)
    invoices = forms.TypedMultipleChoiceField(
        label=_("Factures"), coerce=int, required=False, choices=[]
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any id: the view keeps only the company's e-mail register among them.
        field = self.fields["invoices"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.valid_value = lambda value: str(value).isdigit() and len(str(value)) <= 18  # type: ignore[method-assign]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        scope = data.get("scope")
        if scope == "range":
            start, end = data.get("batch_from"), data.get("batch_to")
            if not start and not end:
                raise forms.ValidationError(_("Indiquez au moins une date de la période."))
            if start and end and end < start:
                raise forms.ValidationError(_("La fin de la période précède son début."))
        if scope == "selection" and not data.get("invoices"):
            raise forms.ValidationError(_("Cochez au moins une facture dans le registre."))
        return data


class PaperForm(forms.Form):
    """The invoices of the paper register to print in one PDF."""

    invoices = forms.TypedMultipleChoiceField(coerce=int, required=False, choices=[])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["invoices"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.valid_value = lambda value: str(value).isdigit() and len(str(value)) <= 18  # type: ignore[method-assign]

    def clean_invoices(self) -> list[int]:
        ids: list[int] = self.cleaned_data.get("invoices") or []
        if not ids:
            raise forms.ValidationError(_("Cochez au moins une facture à imprimer."))
        return ids
