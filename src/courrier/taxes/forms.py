"""The filters of the tax lists, and the forms that edit a tax file."""

from __future__ import annotations

from datetime import date
from typing import Any

from babel.dates import format_date as babel_format_date
from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from courrier.firm.models import Collaborator
from courrier.taxes.models import FilingStatus
from courrier.taxes.selectors import FilingFilters


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
