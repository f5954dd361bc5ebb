from __future__ import annotations

from django.contrib import admin

from courrier.clients.forms import ClientEmailForm
from courrier.clients.models import Client, ClientEmail, ClientSelection, Tag


class ClientEmailInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ClientEmail
    form = ClientEmailForm
    fields = ["address", "purpose", "position"]
    extra = 1


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "number",
        "name",
        "language",
        "billing_company",
        "responsible",
        "invoice_channel",
        "active",
    ]
    list_filter = ["language", "kind", "invoice_channel", "active", "billing_company", "tags"]
    search_fields = ["number", "name", "contact_name", "emails__address", "enterprise_number"]
    list_select_related = ["billing_company", "responsible"]
    autocomplete_fields = ["responsible", "billing_company"]
    filter_horizontal = ["tags"]
    inlines = [ClientEmailInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "number",
                    "kind",
                    "name",
                    "legal_form",
                    "enterprise_number",
                    "vat_number",
                    "language",
                ]
            },
        ),
        (None, {"fields": ["contact_name", "salutation", "phone"]}),
        (None, {"fields": ["street", "postal_code", "city", "country"]}),
        (
            None,
            {
                "fields": [
                    "billing_company",
                    "responsible",
                    "invoice_channel",
                    "peppol_id",
                    "peppol_courtesy_copy",
                    "active",
                ]
            },
        ),
        (None, {"fields": ["tags"]}),
    ]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "colour"]
    search_fields = ["name"]


@admin.register(ClientSelection)
class ClientSelectionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "owner", "shared", "updated_at"]
    list_filter = ["shared"]
    search_fields = ["name", "owner__email"]
    list_select_related = ["owner"]
    readonly_fields = ["created_at", "updated_at"]
