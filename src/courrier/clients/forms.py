"""The client form and its e-mail addresses, validated together."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import transaction
from django.db.models import Q
from django.forms import BaseInlineFormSet, inlineformset_factory
from django.utils.translation import gettext_lazy as _

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import Collaborator


class ClientForm(forms.ModelForm):
    """Enterprise and VAT numbers are checked and normalised by `Client.clean()`."""

    class Meta:
        model = Client
        fields = [
            "number",
            "kind",
            "name",
            "legal_form",
            "enterprise_number",
            "vat_number",
            "language",
            "contact_name",
            "salutation",
            "phone",
            "street",
            "postal_code",
            "city",
            "country",
            "billing_company",
            "responsible",
            "invoices_by_email",
            "active",
        ]
        widgets = {
            "enterprise_number": forms.TextInput(attrs={"placeholder": "0123.456.789"}),
            "vat_number": forms.TextInput(attrs={"placeholder": "BE0123456789"}),
        }
        error_messages = {
            "number": {"unique": _("Un autre client porte déjà ce numéro.")},
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        responsible = self.fields["responsible"]
        billing_company = self.fields["billing_company"]
        assert isinstance(responsible, forms.ModelChoiceField)
        assert isinstance(billing_company, forms.ModelChoiceField)
        responsible.empty_label = _("— aucun —")
        billing_company.empty_label = _("— aucune —")
        # A former colleague stays selectable on the clients that still name them.
        active = Q(is_active=True)
        if self.instance.responsible_id is not None:
            active |= Q(pk=self.instance.responsible_id)
        responsible.queryset = Collaborator.objects.filter(active)

    def clean_number(self) -> str:
        return str(self.cleaned_data.get("number") or "").strip()

    def clean_country(self) -> str:
        return str(self.cleaned_data.get("country") or "").strip().upper()


class ClientEmailForm(forms.ModelForm):
    class Meta:
        model = ClientEmail
        fields = ["address", "purpose"]
        error_messages = {
            "address": {
                "invalid": _("Cette adresse e-mail n'est pas valide (exemple : nom@domaine.be).")
            },
        }

    def clean_address(self) -> str:
        # Same normalisation as ClientEmail.save(), so that duplicates are caught here as a
        # form error rather than by the database's unique constraint.
        address = str(self.cleaned_data.get("address") or "").strip()
        local, _at, domain = address.rpartition("@")
        return f"{local}@{domain.lower()}" if local else address


class BaseClientEmailFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    def get_unique_error_message(self, unique_check: Any) -> str:
        return str(_("La même adresse e-mail figure deux fois dans la liste."))

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        kept = [
            form
            for form in self.forms
            if (form.instance.pk is not None or form.has_changed())
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("address")
        ]
        seen: set[str] = set()
        for form in kept:
            key = form.cleaned_data["address"].lower()
            if key in seen:
                form.add_error("address", _("Cette adresse figure déjà dans la liste."))
            seen.add(key)
        # `instance` is the client being edited; ClientForm has already copied the submitted
        # checkbox onto it (see `client_forms_valid`).
        if self.instance.invoices_by_email and not kept:
            raise forms.ValidationError(
                _(
                    "Le client reçoit ses factures par e-mail : indiquez au moins une adresse "
                    "e-mail (générale ou pour les factures)."
                ),
                code="invoice_address_missing",
            )


ClientEmailFormSet: type[BaseClientEmailFormSet] = inlineformset_factory(  # type: ignore[assignment]
    Client,
    ClientEmail,
    form=ClientEmailForm,
    formset=BaseClientEmailFormSet,
    extra=1,
    max_num=20,
    validate_max=True,
    can_delete=True,
)


def client_forms(
    *, data: Any = None, instance: Client | None = None
) -> tuple[ClientForm, BaseClientEmailFormSet]:
    """The client form and its address formset, bound to the same Client instance."""
    form = ClientForm(data=data, instance=instance)
    formset = ClientEmailFormSet(data=data, instance=form.instance, prefix="emails")
    return form, formset


def client_forms_valid(form: ClientForm, formset: BaseClientEmailFormSet) -> bool:
    # The form first: its validation puts the submitted flags on the instance the formset reads.
    form_ok = form.is_valid()
    formset_ok = formset.is_valid()
    return form_ok and formset_ok


@transaction.atomic
def client_forms_save(form: ClientForm, formset: BaseClientEmailFormSet) -> Client:
    """Save a validated client and its addresses; addresses keep the order they were typed in."""
    client = form.save()
    formset.instance = client
    formset.save(commit=False)
    # Removed rows go first, so that an address removed and typed again does not collide.
    for removed in formset.deleted_objects:
        removed.delete()
    position = 0
    for email_form in formset.forms:
        row = email_form.instance
        if email_form in formset.deleted_forms or (row.pk is None and not email_form.has_changed()):
            continue
        row.client = client
        row.position = position
        row.save()
        position += 1
    return client
