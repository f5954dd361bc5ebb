"""Merge fields of a mail about a client document (context "document").

TYPEDOCUMENT is the document's kind; TYPEDOC stays the invoice's (facture / note de crédit).
Values are in the recipient's language (fr, nl, de, en).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from courrier.documents.models import Document
from courrier.l10n import format_date, format_long_date, in_language, mail_language
from courrier.mailing.fields import Field
from courrier.sizes import file_size

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

_DOCUMENT = _("Document")

DOCUMENT_FIELDS: list[Field] = [
    Field("TITREDOC", _("Titre du document"), _DOCUMENT, "Avertissement-extrait de rôle 2026"),
    Field("TYPEDOCUMENT", _("Type de document"), _DOCUMENT, "avertissement-extrait de rôle"),
    Field("DATEDOC", _("Date du document"), _DOCUMENT, "15/06/2026"),
    Field("DATEDOCLONGUE", _("Date du document en toutes lettres"), _DOCUMENT, "15 juin 2026"),
    Field("NOMFICHIER", _("Nom du fichier"), _DOCUMENT, "AER-2026.pdf"),
    Field("TAILLEDOC", _("Taille du fichier"), _DOCUMENT, "240 Ko"),
]

# The kinds in a mail, rendered in the mail's language (`l10n.in_language`).
KIND_WORDS: dict[str, StrOrPromise] = {
    Document.Kind.IPP_RETURN: pgettext_lazy("mail", "déclaration IPP"),
    Document.Kind.TAX_ASSESSMENT: pgettext_lazy("mail", "avertissement-extrait de rôle"),
    Document.Kind.ANNUAL_ACCOUNTS: pgettext_lazy("mail", "comptes annuels"),
    Document.Kind.CONTRACT: pgettext_lazy("mail", "contrat"),
    Document.Kind.SUPPLIER_INVOICE: pgettext_lazy("mail", "facture fournisseur"),
    # Translators: a letter received or sent (a document's kind).
    Document.Kind.LETTER: pgettext_lazy("mail", "courrier"),
    Document.Kind.OTHER: pgettext_lazy("mail", "document"),
}


def kind_word(kind: str, language: str) -> str:
    return in_language(KIND_WORDS.get(kind, KIND_WORDS[Document.Kind.OTHER]), language)


def document_values(document: Document, language: str) -> dict[str, str]:
    """The document's own fields for a mail in `language` (the client's are added apart)."""
    return {
        "TITREDOC": document.title,
        "TYPEDOCUMENT": kind_word(document.kind, language),
        "DATEDOC": format_date(document.date, language),
        "DATEDOCLONGUE": format_long_date(document.date, language),
        "NOMFICHIER": document.filename,
        "TAILLEDOC": file_size(document.size, mail_language(language)),
    }
