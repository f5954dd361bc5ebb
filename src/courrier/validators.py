"""Belgian identifiers, checked with python-stdnum; e-mail addresses a server can be given;
errors in the user's language."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from stdnum import iban as stdnum_iban
from stdnum.be import vat as be_vat
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError

from courrier.mailing.addresses import AddressError, domain_ascii


def normalise_enterprise_number(value: str) -> str:
    """Return the Belgian enterprise number as 0123.456.789, or raise ValidationError."""
    try:
        compact = be_vat.validate(value)
    except StdnumError as exc:
        raise ValidationError(
            _(
                "« %(value)s » n'est pas un numéro d'entreprise belge valide "
                "(10 chiffres, modulo 97)."
            ),
            code="enterprise_number",
            params={"value": value},
        ) from exc
    return f"{compact[:4]}.{compact[4:7]}.{compact[7:]}"


def normalise_vat_number(value: str) -> str:
    """Return a European VAT number in compact form with its country prefix (BE0123456789)."""
    candidate = value.strip().upper().replace(" ", "").replace(".", "")
    if candidate[:2].isdigit():
        candidate = "BE" + candidate
    try:
        return str(eu_vat.validate(candidate))
    except StdnumError as exc:
        raise ValidationError(
            _("« %(value)s » n'est pas un numéro de TVA valide."),
            code="vat_number",
            params={"value": value},
        ) from exc


def normalise_iban(value: str) -> str:
    try:
        compact = stdnum_iban.validate(value)
    except StdnumError as exc:
        raise ValidationError(
            _("« %(value)s » n'est pas un IBAN valide."), code="iban", params={"value": value}
        ) from exc
    return str(stdnum_iban.format(compact))


def validate_header_text(value: str) -> None:
    """Refuse CR/LF (and other control characters) in text that goes into a mail header."""
    if any(ch in value for ch in "\r\n\x00") or any(ord(ch) < 32 and ch != "\t" for ch in value):
        raise ValidationError(
            _("Ce champ ne peut pas contenir de retour à la ligne ni de caractère de contrôle."),
            code="header_injection",
        )


def validate_deliverable_email(value: str) -> None:
    """An address a mail can be delivered to: a domain with accents is accepted when it has a
    valid internationalised form (IDNA 2008: jean@exämple.be); an accent before the @ is
    refused, since only the few servers that offer SMTPUTF8 could take it."""
    local, at, domain = value.rpartition("@")
    if at and not local.isascii():
        raise ValidationError(
            _(
                "« %(value)s » : les lettres accentuées et autres caractères spéciaux ne sont pas "
                "acceptés avant le @ (la plupart des serveurs de messagerie ne peuvent pas livrer "
                "une telle adresse)."
            ),
            code="email_local_part",
            params={"value": value},
        )
    validate_email(value)
    try:
        domain_ascii(domain)
    except AddressError:
        raise ValidationError(
            _("« %(value)s » : le nom de domaine après le @ n'est pas valide."),
            code="email_domain",
            params={"value": value},
        ) from None
