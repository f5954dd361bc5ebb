"""Merge fields of a mail about a client document (context "document").

TYPEDOCUMENT is the document's kind; TYPEDOC stays the invoice's (facture / note de crédit).
Values are in the recipient's language (fr, nl, de, en).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from courrier.documents.models import Document
from courrier.l10n import format_date, format_long_date, mail_language
from courrier.mailing.fields import Field
from courrier.sizes import file_size

_DOCUMENT = _("Document")

DOCUMENT_FIELDS: list[Field] = [
    Field("TITREDOC", _("Titre du document"), _DOCUMENT, "Avertissement-extrait de rôle 2026"),
    Field("TYPEDOCUMENT", _("Type de document"), _DOCUMENT, "avertissement-extrait de rôle"),
    Field("DATEDOC", _("Date du document"), _DOCUMENT, "15/06/2026"),
    Field("DATEDOCLONGUE", _("Date du document en toutes lettres"), _DOCUMENT, "15 juin 2026"),
    Field("NOMFICHIER", _("Nom du fichier"), _DOCUMENT, "AER-2026.pdf"),
    Field("TAILLEDOC", _("Taille du fichier"), _DOCUMENT, "240 Ko"),
]

# The kinds in the four mail languages (German has no interface catalogue).
KIND_WORDS: dict[str, dict[str, str]] = {
    Document.Kind.IPP_RETURN: {
        "fr": "déclaration IPP",
        "nl": "aangifte personenbelasting",
        "de": "Einkommensteuererklärung",
        "en": "personal income tax return",
    },
    Document.Kind.TAX_ASSESSMENT: {
        "fr": "avertissement-extrait de rôle",
        "nl": "aanslagbiljet",
        "de": "Steuerbescheid",
        "en": "tax assessment notice",
    },
    Document.Kind.ANNUAL_ACCOUNTS: {
        "fr": "comptes annuels",
        "nl": "jaarrekening",
        "de": "Jahresabschluss",
        "en": "annual accounts",
    },
    Document.Kind.CONTRACT: {
        "fr": "contrat",
        "nl": "contract",
        "de": "Vertrag",
        "en": "contract",
    },
    Document.Kind.SUPPLIER_INVOICE: {
        "fr": "facture fournisseur",
        "nl": "aankoopfactuur",
        "de": "Lieferantenrechnung",
        "en": "supplier invoice",
    },
    Document.Kind.LETTER: {
        "fr": "courrier",
        "nl": "brief",
        "de": "Schreiben",
        "en": "letter",
    },
    Document.Kind.OTHER: {
        "fr": "document",
        "nl": "document",
        "de": "Dokument",
        "en": "document",
    },
}


def kind_word(kind: str, language: str) -> str:
    words = KIND_WORDS.get(kind, KIND_WORDS[Document.Kind.OTHER])
    return words[mail_language(language)]


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
