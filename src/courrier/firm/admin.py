from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from courrier.firm.forms import BillingCompanyForm, CollaboratorChangeForm, CollaboratorCreationForm
from courrier.firm.models import SIGNATURE_FIELDS, BillingCompany, Collaborator, Firm

admin.site.site_header = _("Courrier — administration")
admin.site.site_title = _("Courrier")
admin.site.index_title = _("Administration technique")


@admin.register(Firm)
class FirmAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["__str__", "default_language", "fixed_bcc"]
    fields = ["name", "default_language", "fixed_bcc", "website", "phone", "track_opens"]

    # One row per installation: created by Firm.load(), never added nor deleted by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return not Firm.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Collaborator)
class CollaboratorAdmin(UserAdmin):  # type: ignore[type-arg]
    form = CollaboratorChangeForm
    add_form = CollaboratorCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (
            _("Collaborateur"),
            {"fields": ("first_name", "last_name", "role", "language", "phone")},
        ),
        (_("Signature des mails"), {"fields": SIGNATURE_FIELDS}),
        (
            _("Accès technique"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "first_name",
                    "last_name",
                    "role",
                    "language",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    list_display = ["email", "first_name", "last_name", "role", "language", "is_active"]
    list_filter = ["role", "language", "is_active", "is_staff"]
    search_fields = ["email", "first_name", "last_name"]
    ordering = ["last_name", "first_name", "email"]
    readonly_fields = ["last_login", "date_joined"]


@admin.register(BillingCompany)
class BillingCompanyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = BillingCompanyForm
    list_display = ["code", "name", "legal_form", "enterprise_number", "vat_number", "email"]
    search_fields = ["code", "name", "enterprise_number", "vat_number"]
