"""The client form and its e-mail addresses, validated together; tags; the selection builder."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import transaction
from django.db.models import Q
from django.forms import BaseInlineFormSet, inlineformset_factory
from django.utils.translation import gettext_lazy as _

from courrier.clients.models import Client, ClientEmail, ClientSelection, InvoiceChannel, Tag
from courrier.clients.selectors import SelectionFilters, tag_named
from courrier.clients.services import TAG_NAME_MAX, tags_ensure
from courrier.firm.models import BillingCompany, Collaborator
from courrier.languages import MailLanguage
from courrier.params import IdsChoiceField
from courrier.validators import validate_deliverable_email


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
            "invoice_channel",
            "peppol_id",
            "peppol_courtesy_copy",
            "active",
            "tags",
        ]
        widgets = {
            "enterprise_number": forms.TextInput(attrs={"placeholder": "0123.456.789"}),
            "vat_number": forms.TextInput(attrs={"placeholder": "BE0123456789"}),
            "peppol_id": forms.TextInput(attrs={"placeholder": "0208:0123456789"}),
            "tags": forms.CheckboxSelectMultiple,
        }
        field_classes = {"tags": IdsChoiceField}
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

    new_tags = forms.CharField(
        label=_("Nouvelles étiquettes"),
        required=False,
        max_length=400,
        help_text=_("Séparées par des virgules, par exemple « Horeca, Gros client »."),
    )

    def clean_number(self) -> str:
        return str(self.cleaned_data.get("number") or "").strip()

    def clean_new_tags(self) -> list[str]:
        names = [
            " ".join(name.split())
            for name in str(self.cleaned_data.get("new_tags") or "").split(",")
        ]
        names = [name for name in names if name]
        too_long = [name for name in names if len(name) > TAG_NAME_MAX]
        if too_long:
            raise forms.ValidationError(
                _("« %(name)s » est trop long pour une étiquette (%(limit)d caractères au plus).")
                % {"name": too_long[0], "limit": TAG_NAME_MAX}
            )
        return names

    def clean_country(self) -> str:
        return str(self.cleaned_data.get("country") or "").strip().upper()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            data.get("invoice_channel") == InvoiceChannel.PEPPOL
            and not self.errors.get("peppol_id")
            and not self.errors.get("enterprise_number")
        ):
            probe = Client(
                peppol_id=data.get("peppol_id") or "",
                enterprise_number=data.get("enterprise_number") or "",
                country=data.get("country") or "",
            )
            if not probe.peppol_address:
                self.add_error(
                    "peppol_id",
                    _(
                        "Le client reçoit ses factures par Peppol : indiquez son identifiant "
                        "Peppol, ou son numéro d'entreprise s'il est belge."
                    ),
                )
        return data


class ClientEmailForm(forms.ModelForm):
    class Meta:
        model = ClientEmail
        fields = ["address", "purpose"]
        error_messages = {
            "address": {
                "invalid": _("Cette adresse e-mail n'est pas valide (exemple : nom@domaine.be).")
            },
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Accents in the domain are fine (delivered in its xn-- form); before the @, refused
        # with the reason rather than the generic "not valid".
        self.fields["address"].validators = [validate_deliverable_email]

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
        if self.instance.invoice_channel == InvoiceChannel.EMAIL and not kept:
            raise forms.ValidationError(
                _(
                    "Le client reçoit ses factures par e-mail : indiquez au moins une adresse "
                    "e-mail (générale ou pour les factures)."
                ),
                code="invoice_address_missing",
            )
        if self.instance.peppol_courtesy_copy and not kept:
            raise forms.ValidationError(
                _(
                    "La copie de courtoisie part par e-mail : indiquez au moins une adresse "
                    "e-mail (générale ou pour les factures)."
                ),
                code="courtesy_address_missing",
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
    new_tags = form.cleaned_data.get("new_tags") or []
    if new_tags:
        client.tags.add(*tags_ensure(names=new_tags))
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


class TagForm(forms.ModelForm):
    class Meta:
        model = Tag
        fields = ["name", "colour"]
        widgets = {"colour": forms.RadioSelect}

    def clean_name(self) -> str:
        name = " ".join(str(self.cleaned_data.get("name") or "").split())
        # Said on the field; the database constraint stays the guard against a race.
        same = tag_named(name=name)
        if same is not None and same.pk != self.instance.pk:
            raise forms.ValidationError(_("Une étiquette porte déjà ce nom."), code="unique")
        return name


# --- the selection builder ------------------------------------------------------------------

ANY = _("— indifférent —")


class SelectionFilterForm(forms.Form):
    """Draws the builder's filters (names prefixed `sel-`, so that the builder can sit inside
    another form). It is never validated: `SelectionFilters.from_query()` reads the request,
    and this form shows those filters back through `initial`."""

    prefix = SelectionFilters.PREFIX.rstrip("-")

    text = forms.CharField(
        label=_("Texte"),
        required=False,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Nom, numéro ou adresse e-mail")}
        ),
    )
    language = forms.ChoiceField(
        label=_("Langue"), required=False, choices=[("", _("— toutes —")), *MailLanguage.choices]
    )
    billing_company = forms.ModelChoiceField(
        label=_("Société facturante"),
        required=False,
        queryset=BillingCompany.objects.all(),
        empty_label=_("— toutes —"),
    )
    responsible = forms.ModelChoiceField(
        label=_("Collaborateur responsable"),
        required=False,
        queryset=Collaborator.objects.none(),
        empty_label=_("— tous —"),
    )
    kind = forms.ChoiceField(
        label=_("Type de client"),
        required=False,
        choices=[("", _("— tous —")), *Client.Kind.choices],
    )
    legal_form = forms.CharField(
        label=_("Forme juridique"),
        required=False,
        widget=forms.TextInput(attrs={"list": "sel-legal-forms", "autocomplete": "off"}),
    )
    invoice_channel = forms.ChoiceField(
        label=_("Envoi des factures"),
        required=False,
        choices=[("", ANY), *InvoiceChannel.choices],
    )
    has_email = forms.ChoiceField(
        label=_("Adresse e-mail"),
        required=False,
        choices=[("", ANY), ("1", _("avec une adresse")), ("0", _("sans adresse"))],
    )
    tags = IdsChoiceField(
        label=_("Étiquettes (au moins une)"),
        required=False,
        queryset=Tag.objects.all(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Un client est retenu s'il porte au moins une des étiquettes cochées."),
    )

    def __init__(self, *, filters: SelectionFilters) -> None:
        initial: dict[str, Any] = filters.as_dict()
        for name in ("has_email",):
            value = initial[name]
            initial[name] = "" if value is None else ("1" if value else "0")
        super().__init__(initial=initial)
        responsible = self.fields["responsible"]
        assert isinstance(responsible, forms.ModelChoiceField)
        # Colleagues who have left still answer for the clients that name them.
        responsible.queryset = Collaborator.objects.filter(
            Q(is_active=True) | Q(clients__active=True)
        ).distinct()

    @staticmethod
    def legal_forms() -> list[str]:
        """The legal forms in use, offered as suggestions."""
        forms_in_use = (
            Client.objects.filter(active=True)
            .exclude(legal_form="")
            .values_list("legal_form", flat=True)
            .distinct()
        )
        return sorted({value.strip() for value in forms_in_use}, key=str.lower)[:100]


class SelectionSaveForm(forms.Form):
    prefix = "sel-save"

    name = forms.CharField(
        label=_("Nom de la sélection"),
        max_length=ClientSelection._meta.get_field("name").max_length,
        widget=forms.TextInput(attrs={"placeholder": _("Par exemple « Clients horeca NL »")}),
    )
    shared = forms.BooleanField(
        label=_("Partager avec le cabinet"),
        required=False,
        help_text=_("Les autres collaborateurs pourront l'utiliser ; eux ne la modifient pas."),
    )
