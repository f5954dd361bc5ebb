"""The tax files in the admin: saved through `filing_save`, so deadlines follow their rule unless
one is typed (then it is kept as set by hand), and grids are checked."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest

from courrier.taxes.models import (
    AnnualAccountsFiling,
    CorporateTaxReturn,
    Filing,
    IncomeTaxReturn,
    VatProfile,
    VatReturn,
)
from courrier.taxes.services import filing_save


@admin.register(VatProfile)
class VatProfileAdmin(admin.ModelAdmin[VatProfile]):
    list_display = ["client", "regime"]
    list_filter = ["regime"]
    search_fields = ["client__name", "client__number"]
    autocomplete_fields = ["client"]


class FilingAdmin(admin.ModelAdmin[Any]):
    list_filter = ["status", "deadline_by_hand"]
    search_fields = ["client__name", "client__number"]
    autocomplete_fields = ["client"]
    exclude = ["deadline_by_hand", "created_by"]
    date_hierarchy = "deadline"

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        # Left empty, the deadline follows the rule.
        form.base_fields["deadline"].required = False
        return form

    def save_model(self, request: HttpRequest, obj: Filing, form: ModelForm, change: bool) -> None:
        typed = form.cleaned_data.get("deadline")
        by_hand = typed is not None and ("deadline" in form.changed_data or obj.deadline_by_hand)
        if typed is None:
            obj.deadline_by_hand = False
        filing_save(
            filing=obj,
            deadline=typed if by_hand and typed != obj.rule_deadline() else None,
            by=request.user,  # type: ignore[arg-type]
        )


@admin.register(VatReturn)
class VatReturnAdmin(FilingAdmin):
    list_display = ["client", "period_code", "status", "deadline", "filed_on"]
    list_filter = ["year", "period_kind", *FilingAdmin.list_filter]


@admin.register(CorporateTaxReturn)
class CorporateTaxReturnAdmin(FilingAdmin):
    list_display = ["client", "year_end", "assessment_year", "result", "status", "deadline"]


@admin.register(IncomeTaxReturn)
class IncomeTaxReturnAdmin(FilingAdmin):
    list_display = ["client", "income_year", "result", "status", "deadline"]
    list_filter = ["income_year", *FilingAdmin.list_filter]


@admin.register(AnnualAccountsFiling)
class AnnualAccountsFilingAdmin(FilingAdmin):
    list_display = ["client", "year_end", "model", "filing_reference", "fee", "status", "deadline"]
    list_filter = ["model", *FilingAdmin.list_filter]
