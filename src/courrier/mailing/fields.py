"""The merge-field catalogue: for each context its fields, and their values for one mail.

A field is written ``{CODE}`` in a template; codes keep the vendor's French style
(``NOMCLIENT``), labels are translated for the interface. Values are formatted in the
recipient's language (fr, nl, de, en) and returned raw: escaping is the renderer's job.
Amounts are the exception: the firm writes them one way in every language
(`courrier.amounts.format_amount`).

Every context builds on the client's fields: a later context (invoice, document, vat,
isoc, ipp, bnb) adds its list to ``CONTEXT_FIELDS`` as ``[*CLIENT_FIELDS, *ITS_FIELDS]``
and its value function starts from ``client_values()`` and adds its own codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import npgettext, pgettext_lazy

from courrier.clients.models import Client
from courrier.firm.models import Firm
from courrier.l10n import (
    country_name,
    format_date,
    format_long_date,
    format_vat_number,
    in_language,
    language_name,
    mail_language,
    override,
)
from courrier.mailing.contexts import CLIENT_CONTEXT

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from courrier.firm.models import Collaborator

# The client's kind in a mail ({TYPECLIENT}), in the mail's language (`l10n.in_language`).
_CLIENT_KINDS: dict[str, StrOrPromise] = {
    Client.Kind.COMPANY: pgettext_lazy("mail", "société"),
    Client.Kind.PERSON: pgettext_lazy("mail", "personne physique"),
    Client.Kind.NONPROFIT: pgettext_lazy("mail", "ASBL"),
}


@dataclass(frozen=True)
class Field:
    """One merge field: its code in templates, its translated label and group, an example."""

    code: str
    label: StrOrPromise
    group: StrOrPromise
    example: StrOrPromise


_CLIENT = _("Client")
_ADDRESS = _("Adresse")
_IDENTIFICATION = _("Identification")
_RESPONSIBLE = _("Responsable du dossier")
_SENDER = _("Expéditeur")
_FIRM = _("Cabinet")
_DATES = _("Dates")

CLIENT_FIELDS: list[Field] = [
    Field("NOMCLIENT", _("Nom du client (avec sa forme juridique)"), _CLIENT, "Dupont SRL"),
    Field("NUMCLIENT", _("Numéro de client"), _CLIENT, "C0042"),
    Field("FORMEJURIDIQUE", _("Forme juridique"), _CLIENT, "SRL"),
    Field("TYPECLIENT", _("Type de client"), _CLIENT, "société"),
    Field("CONTACT", _("Personne de contact"), _CLIENT, "Marie Dupont"),
    Field("FORMULE", _("Formule d'appel"), _CLIENT, "Chère Madame Dupont"),
    Field("LANGUE", _("Langue du client"), _CLIENT, "français"),
    Field("EMAIL", _("Adresse e-mail du client"), _CLIENT, "marie@dupont.be"),
    Field("TELCLIENT", _("Téléphone du client"), _CLIENT, "+32 2 123 45 67"),
    Field("ADRESSE", _("Rue et numéro"), _ADDRESS, "Rue de la Loi 16"),
    Field("CP", _("Code postal"), _ADDRESS, "1000"),
    Field("LOCALITE", _("Localité"), _ADDRESS, "Bruxelles"),
    Field("PAYS", _("Pays"), _ADDRESS, "Belgique"),
    Field(
        "ADRESSECOMPLETE",
        _("Adresse complète (sur plusieurs lignes)"),
        _ADDRESS,
        "Rue de la Loi 16\n1000 Bruxelles",
    ),
    Field("NUMENTREPRISE", _("Numéro d'entreprise"), _IDENTIFICATION, "0123.456.749"),
    Field("NUMTVA", _("Numéro de TVA"), _IDENTIFICATION, "BE 0123.456.749"),
    Field("RESPONSABLE", _("Collaborateur responsable"), _RESPONSIBLE, "Luc Peeters"),
    Field(
        "RESPONSABLE_EMAIL",
        _("Adresse e-mail du responsable"),
        _RESPONSIBLE,
        "luc.peeters@fidu.be",
    ),
    Field("RESPONSABLE_TEL", _("Téléphone du responsable"), _RESPONSIBLE, "+32 2 765 43 21"),
    Field("EXPEDITEUR", _("Nom de l'expéditeur"), _SENDER, "Anne Martin"),
    Field("EXPEDITEUR_EMAIL", _("Adresse e-mail de l'expéditeur"), _SENDER, "anne@fidu.be"),
    Field("EXPEDITEUR_TEL", _("Téléphone de l'expéditeur"), _SENDER, "+32 2 765 43 22"),
    Field("CABINET", _("Nom du cabinet"), _FIRM, "Fiduciaire Martin"),
    Field("CABINET_TEL", _("Téléphone du cabinet"), _FIRM, "+32 2 765 43 20"),
    Field("CABINET_SITE", _("Site web du cabinet"), _FIRM, "https://www.fidu.be"),
    Field("SOCIETEFACTURANTE", _("Société facturante du client"), _FIRM, "Fidu Martin SRL"),
    Field("DATE", _("Date du jour"), _DATES, "31/12/2026"),
    Field("DATELONGUE", _("Date du jour en toutes lettres"), _DATES, "31 décembre 2026"),
    Field("ANNEE", _("Année en cours"), _DATES, "2026"),
    Field("ANNEEPRECEDENTE", _("Année précédente"), _DATES, "2025"),
]

CONTEXT_FIELDS: dict[str, list[Field]] = {
    CLIENT_CONTEXT: CLIENT_FIELDS,
}

# Fields of the mail itself, which every context has: their values come from how the mail
# is sent (compose's `mail_draft`), not from its client or object.
MAIL_FIELDS: list[Field] = [
    Field(
        "MODEENVOI",
        _(
            "Façon dont partent les fichiers (« en pièce jointe » ou « par le lien sécurisé "
            "ci-dessous »)"
        ),
        _("Fichiers"),
        "en pièce jointe",
    ),
]


def fields_for(context: str) -> list[Field]:
    """The fields a template of this context may use, in the order the picker shows them:
    the context's own, then the mail's (`MAIL_FIELDS`).

    Raises ValueError for a context that has no catalogue (yet).
    """
    try:
        return [*CONTEXT_FIELDS[context], *MAIL_FIELDS]
    except KeyError:
        raise ValueError(f"No merge fields for context {context!r}.") from None


def _full_name(collaborator: Collaborator | None) -> str:
    return collaborator.get_full_name().strip() if collaborator is not None else ""


def _postal_address(client: Client, language: str) -> str:
    # A Belgian firm writes the country only on a foreign address, as on an envelope.
    lines = [client.street.strip(), f"{client.postal_code} {client.city}".strip()]
    if client.country and client.country.upper() != "BE":
        lines.append(country_name(client.country, language))
    return "\n".join(line for line in lines if line)


def client_values(
    *,
    client: Client,
    sender: Collaborator | None,
    language: str,
    today: date | None = None,
    firm: Firm | None = None,
) -> dict[str, str]:
    """Every field of the client context with its value for `language` (not escaped).

    Every value is in `language`, the salutation too: the client's own is used only when it
    is the client's language. An unknown value is an empty string, which the renderer
    reports; `today` defaults to the current date in the firm's time zone. A caller rendering
    many mails passes the `firm` it read once.
    """
    language = mail_language(language)
    today = today or timezone.localdate()
    firm = firm or Firm.load()
    responsible = client.responsible
    billing_company = client.billing_company
    emails = client.mail_addresses()
    contact = client.contact_name.strip()
    if not contact and client.kind == Client.Kind.PERSON:
        # A private person is their own contact.
        contact = client.name
    values = {
        "NOMCLIENT": client.display_name,
        "NUMCLIENT": client.number,
        "FORMEJURIDIQUE": client.legal_form,
        "TYPECLIENT": in_language(_CLIENT_KINDS.get(client.kind, ""), language),
        "CONTACT": contact,
        # The client's own salutation is written in the client's language: a mail in another
        # language greets in its own ("Madame, Monsieur", not "Beste heer Peeters").
        "FORMULE": (client.salutation.strip() if language == client.language else "")
        or in_language(pgettext_lazy("mail", "Madame, Monsieur"), language),
        "LANGUE": language_name(client.language, language),
        "EMAIL": emails[0] if emails else "",
        "TELCLIENT": client.phone,
        "ADRESSE": client.street,
        "CP": client.postal_code,
        "LOCALITE": client.city,
        "PAYS": country_name(client.country, language),
        "ADRESSECOMPLETE": _postal_address(client, language),
        "NUMENTREPRISE": client.enterprise_number,
        "NUMTVA": format_vat_number(client.vat_number),
        "RESPONSABLE": _full_name(responsible),
        "RESPONSABLE_EMAIL": responsible.email if responsible is not None else "",
        "RESPONSABLE_TEL": responsible.phone if responsible is not None else "",
        "EXPEDITEUR": _full_name(sender),
        "EXPEDITEUR_EMAIL": sender.email if sender is not None else "",
        "EXPEDITEUR_TEL": sender.phone if sender is not None else "",
        "CABINET": firm.name,
        "CABINET_TEL": firm.phone,
        "CABINET_SITE": firm.website,
        "SOCIETEFACTURANTE": str(billing_company) if billing_company is not None else "",
        "DATE": format_date(today, language),
        "DATELONGUE": format_long_date(today, language),
        "ANNEE": str(today.year),
        "ANNEEPRECEDENTE": str(today.year - 1),
    }
    return values


def mail_values(*, attached: int, linked: int, language: str) -> dict[str, str]:
    """The mail's own fields (`MAIL_FIELDS`): `attached` files joined to it, `linked` files
    sent as secure links instead. No file at all leaves {MODEENVOI} empty, which the
    renderer reports: a template that says how files go needs files."""
    # Said where a template would say "ci-joint"; the links' text ends the body, hence "below".
    with override(language):
        if linked:
            way = npgettext(
                "mail",
                "par le lien sécurisé ci-dessous",
                "par les liens sécurisés ci-dessous",
                linked,
            )
        elif attached:
            way = npgettext("mail", "en pièce jointe", "en pièces jointes", attached)
        else:
            way = ""
    return {"MODEENVOI": way}
