"""The filters of the tax lists, and the forms that edit a tax file."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from babel.dates import format_date as babel_format_date
from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.taxes import rules
from courrier.taxes.models import (
    AnnualAccountsFiling,
    CorporateTaxReturn,
    Filing,
    FilingStatus,
    IncomeTaxReturn,
    VatRegime,
    VatReturn,
)
from courrier.taxes.selectors import FilingFilters
from courrier.taxes.services import filing_save, vat_profile_set


def _period_choices() -> list[tuple[str, Any]]:
    """Quarters then months, named in the interface language."""
    language = (get_language() or "fr")[:2]
    quarters = [
        (f"T{number}", _("Trimestre %(number)s") % {"number": number}) for number in (1, 2, 3, 4)
    ]
    months = [
        (str(month), babel_format_date(date(2000, month, 1), "LLLL", locale=f"{language}_BE"))
        for month in range(1, 13)
    ]
    return [("", _("— toutes les périodes —")), *quarters, *months]


class FilingFilterForm(forms.Form):
    """GET filters of a list; a wrong value is ignored (the list shows everything for it)."""

    q = forms.CharField(label=_("Client"), required=False, max_length=200)
    year = forms.TypedChoiceField(label=_("Année"), required=False, coerce=int, empty_value=None)
    period = forms.ChoiceField(label=_("Période"), required=False)
    status = forms.ChoiceField(
        label=_("État"),
        required=False,
        choices=[("", _("— tous les états —")), *FilingStatus.choices],
    )
    responsible = forms.ModelChoiceField(
        label=_("Responsable"),
        required=False,
        queryset=Collaborator.objects.filter(is_active=True).order_by("first_name", "last_name"),
        empty_label=_("— tous les responsables —"),
    )
    late = forms.BooleanField(label=_("En retard"), required=False)
    not_mailed = forms.BooleanField(label=_("Pas encore envoyé par e-mail"), required=False)

    def __init__(self, *args: Any, years: list[int], with_period: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        year_field = self.fields["year"]
        assert isinstance(year_field, forms.TypedChoiceField)
        year_field.choices = [("", _("— toutes les années —")), *[(y, str(y)) for y in years]]
        if with_period:
            period_field = self.fields["period"]
            assert isinstance(period_field, forms.ChoiceField)
            period_field.choices = _period_choices()
        else:
            del self.fields["period"]

    def filters(self) -> FilingFilters:
        """The valid part of the filters."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        responsible = data.get("responsible")
        return FilingFilters(
            year=data.get("year"),
            period=data.get("period") or "",
            status=data.get("status") or "",
            responsible_id=responsible.pk if responsible is not None else None,
            late=bool(data.get("late")),
            not_mailed=bool(data.get("not_mailed")),
            query=(data.get("q") or "").strip(),
        )


# --- editing a tax file ---------------------------------------------------------------------

_COMMON = ["status", "filed_on", "notes"]
_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class FilingForm(forms.ModelForm):
    """The common part: the client (when creating), the deadline typed by hand or left to the
    rule, the filed date, the status and notes. `save()` goes through `filing_save`."""

    deadline_typed = forms.DateField(
        label=_("Échéance fixée à la main"),
        required=False,
        widget=_DATE,
        help_text=_("Laissez vide pour suivre la règle légale."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields.pop("client", None)
            if self.instance.deadline_by_hand:
                self.initial["deadline_typed"] = self.instance.deadline
        else:
            client_field = self.fields["client"]
            assert isinstance(client_field, forms.ModelChoiceField)
            client_field.queryset = Client.objects.filter(active=True).order_by("number")
        self.fields["filed_on"].widget = _DATE
        self.fields["notes"].widget = forms.Textarea(attrs={"rows": 2})

    def _post_clean(self) -> None:
        # The deadline is computed by filing_save; model validation must not ask for it.
        if self.instance.deadline is None:
            self.instance.deadline = date.min
        super()._post_clean()  # type: ignore[misc]

    def save_filing(self, *, by: Collaborator) -> Filing:
        filing = self.save(commit=False)
        typed = self.cleaned_data.get("deadline_typed")
        if typed is None:
            filing.deadline_by_hand = False
        return filing_save(filing=filing, deadline=typed, by=by)


class VatReturnForm(FilingForm):
    """A VAT return with one input per grid (71 and 72 are shown, computed)."""

    class Meta:
        model = VatReturn
        fields = ["client", "year", "period_kind", "period", *_COMMON]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        grids = self.instance.grids or {}
        for code in sorted(rules.GRID_CODES):
            self.fields[f"grid_{code}"] = forms.DecimalField(
                label=_("Grille %(code)s") % {"code": code},
                required=False,
                min_value=Decimal("0"),
                max_digits=13,
                decimal_places=2,
                localize=True,
                initial=Decimal(grids[code]) if grids.get(code) else None,
            )

        self.fields["regime"] = forms.ChoiceField(
            label=_("Régime TVA du client"),
            choices=VatRegime.choices,
            required=False,
            help_text=_(
                "Enregistré dans la fiche fiscale du client, pour ses prochaines périodes."
            ),
        )
        if self.instance.pk is not None:
            self.initial["regime"] = self.instance.regime

    def save_filing(self, *, by: Collaborator) -> Filing:
        filing = super().save_filing(by=by)
        assert isinstance(filing, VatReturn)
        regime = self.cleaned_data.get("regime")
        if regime:
            vat_profile_set(client=filing.client, regime=regime)
        return filing

    def grid_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("grid_")]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self.instance.grids = {
            name.removeprefix("grid_"): str(value)
            for name, value in data.items()
            if name.startswith("grid_") and value
        }
        return data


class CorporateTaxReturnForm(FilingForm):
    class Meta:
        model = CorporateTaxReturn
        fields = ["client", "year_end", "result", *_COMMON]
        localized_fields = ["result"]
        widgets = {"year_end": _DATE}


class IncomeTaxReturnForm(FilingForm):
    class Meta:
        model = IncomeTaxReturn
        fields = ["client", "income_year", "result", *_COMMON]
        localized_fields = ["result"]


class AnnualAccountsFilingForm(FilingForm):
    class Meta:
        model = AnnualAccountsFiling
        fields = ["client", "year_end", "model", "filing_reference", "fee", *_COMMON]
        localized_fields = ["fee"]
        widgets = {"year_end": _DATE}


FILING_FORMS: dict[type[Filing], type[FilingForm]] = {
    VatReturn: VatReturnForm,
    CorporateTaxReturn: CorporateTaxReturnForm,
    IncomeTaxReturn: IncomeTaxReturnForm,
    AnnualAccountsFiling: AnnualAccountsFilingForm,
}
