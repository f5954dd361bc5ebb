from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from courrier.documents.models import Document
from courrier.documents.services import document_file_check


class DocumentForm(forms.Form):
    """Upload of one document into a client file."""

    SENSITIVE_AUTO = "auto"
    SENSITIVE_CHOICES = [
        (SENSITIVE_AUTO, _("selon le type")),
        ("yes", _("oui : envoyer par lien sécurisé")),
        ("no", _("non")),
    ]

    file = forms.FileField(label=_("Fichier"))
    kind = forms.ChoiceField(label=_("Type"), choices=Document.Kind.choices)
    title = forms.CharField(
        label=_("Titre"),
        max_length=200,
        required=False,
        help_text=_("Le nom du fichier si vous le laissez vide."),
    )
    date = forms.DateField(label=_("Date du document"))
    sensitive = forms.ChoiceField(
        label=_("Document sensible"),
        choices=SENSITIVE_CHOICES,
        initial=SENSITIVE_AUTO,
        help_text=_(
            "Un document sensible est proposé par lien sécurisé plutôt qu'en pièce jointe. "
            "Selon le type : les déclarations IPP et les avertissements-extraits de rôle."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["date"].initial = timezone.localdate()
        self.fields["date"].widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

    def clean_file(self) -> Any:
        file = self.cleaned_data["file"]
        document_file_check(file)  # a sentence naming the file, on the form
        return file

    def sensitive_value(self) -> bool | None:
        value = self.cleaned_data.get("sensitive", self.SENSITIVE_AUTO)
        return None if value == self.SENSITIVE_AUTO else value == "yes"
