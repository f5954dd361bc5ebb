from django.contrib import admin
from django.http import HttpRequest

from courrier.billing.models import Invoice, InvoiceLine, InvoiceSeries


class InvoiceLineInline(admin.TabularInline[InvoiceLine, Invoice]):
    model = InvoiceLine
    extra = 0
    fields = (
        "position",
        "description",
        "quantity",
        "unit_price",
        "vat_rate",
        "vat_category",
    )


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin[Invoice]):
    """Read-mostly: invoices are made and issued through the services (numbering, PDF)."""

    list_display = (
        "display_number",
        "kind",
        "status",
        "billing_company",
        "client",
        "issue_date",
        "total_incl_vat",
        "register",
    )
    list_filter = ("billing_company", "status", "kind", "register", "language")
    search_fields = ("client__name", "client__number", "structured_communication", "reference")
    date_hierarchy = "issue_date"
    raw_id_fields = ("client", "credited_invoice")
    inlines = [InvoiceLineInline]
    readonly_fields = (
        "status",
        "year",
        "number",
        "structured_communication",
        "total_excl_vat",
        "total_vat",
        "total_incl_vat",
        "register",
        "pdf",
        "pdf_sha256",
        "created_by",
        "issued_at",
    )

    def has_change_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        # An issued invoice never changes; a correction is a credit note.
        if obj is not None and obj.is_issued:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        if obj is not None and obj.is_issued:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(InvoiceSeries)
class InvoiceSeriesAdmin(admin.ModelAdmin[InvoiceSeries]):
    list_display = ("billing_company", "year", "last_number")
    list_filter = ("billing_company", "year")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Changing a series by hand would create gaps or duplicates.
        return False
