"""The rich-text editor in forms: a field whose value is the stored HTML, and its widget.

The widget is a textarea holding the HTML; `courrier/richtext.js` turns it into the editor
shipped by django-prose-editor (Tiptap/ProseMirror, served by the app), with its toolbar in the
reader's language. Without the script the textarea stays, with the HTML in it: a person may
edit it, or type plain text (paragraphs separated by a blank line, the light markup), which
`body_html` turns into HTML.

Whatever the browser posts is sanitised by the field before any other check: nothing but the
allow-list of `richtext` reaches `cleaned_data`, hence storage or a mail.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.templatetags.static import static
from django.utils.translation import gettext as _

from courrier.mailing.rendering import body_html, signature_html

EDITOR_SCRIPT = "django_prose_editor/editor.js"


def _labels() -> dict[str, str]:
    """The editor's own words (English in the package) in the reader's language: its toolbar
    buttons' titles, then its dialogs'."""
    return {
        "bold": _("Gras (Ctrl+B)"),
        "italic": _("Italique (Ctrl+I)"),
        "underline": _("Souligné (Ctrl+U)"),
        "unordered list": _("Liste à puces"),
        "ordered list": _("Liste numérotée"),
        "insert link": _("Lien (Ctrl+K)"),
        "remove link": _("Retirer le lien"),
        "Insert table": _("Insérer un tableau"),
        "Add column": _("Ajouter une colonne"),
        "Delete column": _("Supprimer la colonne"),
        "Add row": _("Ajouter une ligne"),
        "Delete row": _("Supprimer la ligne"),
        "Delete table": _("Supprimer le tableau"),
        "Merge cells": _("Fusionner les cellules"),
        "Split cell": _("Scinder la cellule"),
        "Toggle header cell": _("Cellule d'en-tête"),
        "List properties": _("Propriétés de la liste"),
        "undo": _("Annuler (Ctrl+Z)"),
        "redo": _("Rétablir (Ctrl+Y)"),
        "URL": _("Adresse (https://…)"),
        "Title": _("Titre"),
        "Edit Link": _("Lien"),
        "Update": _("Valider"),
        "Cancel": _("Annuler"),
        "Insert Table": _("Insérer le tableau"),
        "Table Properties": _("Tableau"),
        "Rows": _("Lignes"),
        "Columns": _("Colonnes"),
        "Include header row": _("Ligne d'en-tête"),
        "Yes": _("Oui"),
        "No": _("Non"),
        "List type": _("Type de liste"),
        "Start at": _("Commencer à"),
        "Bullets": _("Puces"),
        "Decimal numbers": _("Nombres"),
    }


class RichTextWidget(forms.Textarea):
    """A textarea the page's script turns into the editor; it keeps the HTML either way."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"rows": 12, **(attrs or {})})

    @property
    def media(self) -> forms.Media:
        return forms.Media(
            css={
                "all": [
                    "django_prose_editor/material-icons.css",
                    "django_prose_editor/editor.css",
                    # Tiptap's base rules, which it would otherwise inject inline.
                    "courrier/prose-base.css",
                ]
            },
            # An ES module: django-stubs do not know Media's Script objects yet.
            js=[forms.Script("courrier/richtext.js", type="module")],  # type: ignore[list-item]
        )

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        # Built when the page is drawn: the words follow the reader's language.
        config = {
            "editor": static(EDITOR_SCRIPT),
            "labels": _labels(),
            "name": _("Contenu du message, mis en forme"),
            "leave": _("Échap : quitter l'éditeur"),
        }
        context["widget"]["attrs"]["data-richtext"] = json.dumps(config, ensure_ascii=False)
        return context


class RichTextField(forms.CharField):
    """Rich text, cleaned into the stored format (sanitised HTML) whatever was posted."""

    widget = RichTextWidget

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> str:
        return body_html(str(super().to_python(value)))


class SignatureField(RichTextField):
    """A signature, in the editor like a body, sanitised with the same allow-list. Plain text
    posted without the editor is taken as written, line by line (a signature has no light
    markup: its "*" stay)."""

    def to_python(self, value: Any) -> str:
        return signature_html(str(forms.CharField.to_python(self, value)))
