"""Forms of the invoice pages: a draft and its lines, the register filters, a batch's choice.

A line's VAT is one choice, as a person thinks of it: a rate (21, 12, 6 or 0 %) or a reason for
charging none (exempt, reverse charge, ...). The services store it as a rate and a category
(`billing.models.line_vat`); `vat_split` and `vat_choice` go from one to the other, and
`vat_total_rows` names the totals rows the pages show per category and rate.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from courrier.billing.models import Invoice, VatCategory, VatRate, line_vat
from courrier.billing.selectors import MAIL_STATES, InvoiceFilters
from courrier.billing.services.totals import Totals
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
    order_reference = forms.CharField(label=_("Bon de commande"), max_length=100, required=False)
    # Required by the services when a line is exempt (E): the page says so on this field.
    vat_exemption_reason = forms.CharField(
        label=_("Motif d'exonération"),
        max_length=300,
        required=False,
        help_text=_(
            "Obligatoire quand une ligne est exonérée : la mention légale imprimée sur la "
            "facture, par exemple « Exonération — article 44 du Code de la TVA »."
        ),
    )
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


# The one VAT select of a line: a rate of the standard category (S), 0 % (zero-rated, Z), or a
# category without VAT; the value is the rate for S and Z, the category's code otherwise.
VAT_CHOICES: list[tuple[str, Any]] = [
    (VatRate.TWENTYONE.value, VatRate.TWENTYONE.label),
    (VatRate.TWELVE.value, VatRate.TWELVE.label),
    (VatRate.SIX.value, VatRate.SIX.label),
    (VatRate.ZERO.value, _("0 % (taux zéro)")),
    (VatCategory.EXEMPT.value, _("Exonéré")),
    (VatCategory.REVERSE_CHARGE.value, _("Autoliquidation")),
    (VatCategory.INTRA_EU.value, _("Livraison intracommunautaire")),
    (VatCategory.EXPORT.value, _("Exportation hors UE")),
    (VatCategory.OUTSIDE_SCOPE.value, _("Hors champ TVA")),
]
VAT_LABELS: dict[str, Any] = dict(VAT_CHOICES)


def vat_split(choice: str) -> tuple[str, str]:
    """The (rate, category) of a VAT choice. An unknown choice is kept as a rate, for the
    services to refuse in their words."""
    if choice in VatCategory.values and choice != VatCategory.STANDARD:
        return line_vat(VatRate.ZERO, choice)
    return line_vat(choice, VatCategory.STANDARD)


def vat_choice(rate: str, category: str | None = None) -> str:
    """The VAT choice of a stored (or posted) rate and category; values it does not know are
    passed on, for the form to refuse."""
    if category == VatCategory.ZERO:
        return VatRate.ZERO.value
    if category and category != VatCategory.STANDARD:
        return category
    return rate


def vat_label(rate: str, category: str | None = None) -> str:
    """How a line's VAT reads on the pages: "21 %", "0 %", "Autoliquidation", ..."""
    choice = vat_choice(rate, category)
    return "0 %" if choice == VatRate.ZERO else str(VAT_LABELS.get(choice, choice))


# The name of a totals row of a category without VAT (S says its rate instead).
VAT_TOTAL_WORDS: dict[str, Any] = {
    VatCategory.ZERO.value: _("Taux zéro"),
    VatCategory.EXEMPT.value: _("Exonération"),
    VatCategory.REVERSE_CHARGE.value: _("Autoliquidation"),
    VatCategory.INTRA_EU.value: _("Livraison intracommunautaire"),
    VatCategory.EXPORT.value: _("Exportation hors UE"),
    VatCategory.OUTSIDE_SCOPE.value: _("Hors champ TVA"),
}


def vat_total_rows(totals: Totals | None) -> list[dict[str, Any]]:
    """The totals rows as the pages print them, one per category and rate of `totals_of`:
    "Base TVA 21 %" and "TVA 21 %", or "Autoliquidation — base" and "Autoliquidation — TVA"."""
    rows = []
    for row in totals.by_rate if totals else []:
        word = VAT_TOTAL_WORDS.get(row.category)
        if word is None:
            base_label = gettext("Base TVA %(rate)s %%") % {"rate": row.rate}
            vat_text = gettext("TVA %(rate)s %%") % {"rate": row.rate}
        else:
            base_label = gettext("%(category)s — base") % {"category": word}
            vat_text = gettext("%(category)s — TVA") % {"category": word}
        rows.append(
            {
                "category": row.category,
                "base_label": base_label,
                "base": row.base,
                "vat_label": vat_text,
                "vat": row.vat,
            }
        )
    return rows


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
    vat = forms.ChoiceField(label=_("TVA"), choices=VAT_CHOICES, initial=VatRate.TWENTYONE)


class BaseLineFormSet(forms.BaseFormSet[LineForm]):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        if not self.lines():
            raise forms.ValidationError(_("Ajoutez au moins une ligne à la facture."))

    def lines(self) -> list[dict[str, Any]]:
        """The filled lines, in their order: description, quantity, unit_price, vat_rate and
        vat_category (as the services take them)."""
        rows = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or not data.get("description"):
                continue
            rate, category = vat_split(data["vat"])
            rows.append(
                {
                    "description": data["description"],
                    "quantity": data["quantity"],
                    "unit_price": data["unit_price"],
                    "vat_rate": rate,
                    "vat_category": category,
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
_LINE_KEYS = ("description", "quantity", "unit_price", "vat")


def _posted_total(data: Any) -> int:
    try:
        total = int(data.get(f"{LINE_PREFIX}-TOTAL_FORMS", "0"))
    except (TypeError, ValueError):
        total = 0
    return max(0, min(total, MAX_LINES))


def _posted_vat(data: Any, index: int) -> str | None:
    """A line's posted VAT choice; a page made before the one select posted `vat_rate` (and
    perhaps `vat_category`), read as the same choice."""
    key = f"{LINE_PREFIX}-{index}-"
    if key + "vat" in data:
        return str(data.get(key + "vat", ""))
    if key + "vat_rate" in data or key + "vat_category" in data:
        return vat_choice(
            str(data.get(key + "vat_rate", "")), str(data.get(key + "vat_category", "")) or None
        )
    return None


def line_rows_from(data: Any) -> list[dict[str, str]]:
    """The rows as typed in a posted lines formset, unchecked (for adding or removing a row)."""
    rows = []
    for index in range(_posted_total(data)):
        row = {key: str(data.get(f"{LINE_PREFIX}-{index}-{key}", ""))[:500] for key in _LINE_KEYS}
        row["vat"] = (_posted_vat(data, index) or "")[:3]
        rows.append(row)
    return rows


def line_formset(*, data: Any = None, rows: list[dict[str, Any]] | None = None) -> BaseLineFormSet:
    """The lines formset: bound to posted data, or showing these rows (one empty row at least)."""
    if data is not None:
        legacy = {
            f"{LINE_PREFIX}-{index}-vat": vat
            for index in range(_posted_total(data))
            if f"{LINE_PREFIX}-{index}-vat" not in data
            and (vat := _posted_vat(data, index)) is not None
        }
        if legacy:
            data = data.copy()
            data.update(legacy)
        return LineFormSet(data=data, prefix=LINE_PREFIX)  # type: ignore[return-value]
    initial = rows or [{"quantity": Decimal("1"), "vat": VatRate.TWENTYONE}]
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
