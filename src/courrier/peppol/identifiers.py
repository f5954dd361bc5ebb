"""A Peppol participant's identifier: its scheme (an EAS code) and its number, checked.

Belgian companies are reached by `0208:` and their enterprise number (checked modulo 97);
some parties use `9925:` and their VAT number. Any other scheme of the official EAS code list
is accepted with a plain number. Errors are said in the reader's language.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from courrier.peppol.artifacts import eas_schemes
from courrier.validators import normalise_enterprise_number, normalise_vat_number

ENTERPRISE = "0208"  # Belgian enterprise number (Crossroads Bank for Enterprises)
BELGIAN_VAT = "9925"  # Belgian VAT number
# The prefix some tools write before the identifier (the Peppol identifier scheme).
_ISO6523 = "iso6523-actorid-upis::"
# A number of another scheme: letters, digits and a few separators, at most 50 of them.
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_/]{0,49}")


def normalise_peppol_id(value: str) -> str:
    """The identifier as `scheme:number` ("0208:0123456789", "9925:BE0123456789"), or a
    ValidationError saying what is wrong with it."""
    text = "".join(str(value).split())
    if text.lower().startswith(_ISO6523):
        text = text[len(_ISO6523) :]
    scheme, separator, number = text.partition(":")
    if not separator or not scheme or not number:
        raise ValidationError(
            _(
                "« %(value)s » n'est pas un identifiant Peppol : il s'écrit schéma:numéro, par "
                "exemple 0208:0123456789 pour une entreprise belge."
            ),
            code="peppol_format",
            params={"value": str(value)[:80]},
        )
    if scheme not in eas_schemes():
        raise ValidationError(
            _("Le schéma « %(scheme)s » ne figure pas dans la liste officielle Peppol (EAS)."),
            code="peppol_scheme",
            params={"scheme": scheme[:20]},
        )
    if scheme == ENTERPRISE:
        return f"{ENTERPRISE}:{normalise_enterprise_number(number).replace('.', '')}"
    if scheme == BELGIAN_VAT:
        vat = normalise_vat_number(number)
        if not vat.startswith("BE"):
            raise ValidationError(
                _("Le schéma 9925 attend un numéro de TVA belge (BE0123456789)."),
                code="peppol_vat",
            )
        return f"{BELGIAN_VAT}:{vat}"
    if not _PLAIN.fullmatch(number):
        raise ValidationError(
            _("« %(value)s » n'est pas un numéro valide pour le schéma %(scheme)s."),
            code="peppol_number",
            params={"value": number[:80], "scheme": scheme},
        )
    return f"{scheme}:{number}"


def peppol_id_of_company(enterprise_number: str) -> str:
    """The identifier by which a Belgian company is reached: `0208:` and its enterprise
    number (checked)."""
    return normalise_peppol_id(f"{ENTERPRISE}:{enterprise_number}")
