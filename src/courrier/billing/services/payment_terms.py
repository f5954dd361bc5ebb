"""What in a mail template asks for payment: a credit note's mail must never do it.

A credit note is money owed to the client: its mail that says "please pay by {ECHEANCE} with
{COMMUNICATION}" would have the client pay twice. The fields that only make sense for a
payment, and the phrases that ask for one in the four mail languages, are found here; the
pre-send check and the composing of an invoice's mail refuse a credit note whose template
holds any of them.

The phrases are requests ("merci de la régler", "gelieve ... te betalen", "bitte
überweisen", "please pay", "payable", "due by"), not every word about money: "vous n'avez
rien à payer" or "if you already paid" are right on a credit note.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache

from django.utils.translation import gettext_noop

from courrier.texts import Sentence, Text

# A payment's own fields: where to pay, by when, with which reference.
PAYMENT_FIELDS = ("ECHEANCE", "COMMUNICATION", "IBAN", "BIC")

# Written as templates are (any case, spaces inside the braces), so that what a template
# engine would accept as a field is found too.
_FIELD = re.compile(r"\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}")
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")

_ASKS: dict[str, list[str]] = {
    "fr": [
        r"\bmerci de (?:bien vouloir )?(?:nous )?(?:la |le |les |l')?"
        r"(?:r[ée]gler|payer|verser|virer)\b",
        r"\bveuillez (?:nous )?(?:la |le |les |l')?(?:r[ée]gler|payer|verser|virer)\b",
        r"\b[àa] (?:r[ée]gler|payer|verser|virer) (?:avant|pour|au plus tard|le|sur|dans|par)\b",
        r"\bpayable\b",
        r"\bcommunication structur[ée]e\b",
    ],
    "nl": [
        r"\bgelieve\b[^.!?]{0,120}?\b(?:te betalen|over te (?:schrijven|maken)|te storten|"
        r"te voldoen|te vereffenen)\b",
        r"\bte betalen (?:v[óo]{1,2}r|tegen|uiterlijk|op|binnen)\b",
        r"\bbetaalbaar\b",
        r"\bgestructureerde mededeling\b",
    ],
    "de": [
        r"\bbitte\b[^.!?]{0,120}?\b(?:überweisen|zahlen|bezahlen|begleichen|einzahlen)\b",
        r"\bzahlbar\b",
        r"\bstrukturierten? mitteilung\b",
    ],
    "en": [
        r"\b(?:please|kindly)\b[^.!?]{0,60}?\b(?:pay|settle|remit|transfer)\b",
        r"\bpayable\b",
        r"\b(?:due|payment) (?:by|before|on|within)\b",
        r"\bstructured communication\b",
    ],
}
_ASK_PATTERNS = [
    re.compile(pattern, re.IGNORECASE) for patterns in _ASKS.values() for pattern in patterns
]


@dataclass(frozen=True)
class PaymentAsk:
    """What asks for payment in a text: the payment fields it uses and the phrases found."""

    fields: tuple[str, ...]
    phrases: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.fields or self.phrases)


def _plain(text: str) -> str:
    """The words as a reader sees them: no tags, entities decoded, one space between words."""
    return _SPACES.sub(" ", html.unescape(_TAG.sub(" ", text)))


# Kept: a batch checks the same few template versions for every credit note, and the phrase
# patterns take about half a millisecond over a mail's text.
@lru_cache(maxsize=256)
def payment_asks(*texts: str) -> PaymentAsk:
    """The payment fields ({ECHEANCE}, {COMMUNICATION}, {IBAN}, {BIC}) and the phrases that
    ask for payment, in any of the four mail languages, found in `texts` (a subject, a
    body), each named once and in the order met."""
    fields: dict[str, None] = {}
    phrases: dict[str, None] = {}
    for text in texts:
        for match in _FIELD.finditer(text or ""):
            code = match.group(1).upper()
            if code in PAYMENT_FIELDS:
                fields[code] = None
        # A field stands for a value, not for words: "à régler {ECHEANCE}" reads "à régler".
        plain = _plain(_FIELD.sub(" ", text or ""))
        for pattern in _ASK_PATTERNS:
            for match in pattern.finditer(plain):
                phrases[match.group(0).strip()] = None
    return PaymentAsk(fields=tuple(fields), phrases=tuple(phrases))


def named(found: PaymentAsk) -> str:
    """What asks for payment, as a reason names it: "{ECHEANCE}, « merci de la régler »"."""
    return ", ".join([f"{{{code}}}" for code in found.fields] + [f"« {p} »" for p in found.phrases])


def credit_note_refusals(subject: str, body: str) -> list[Text]:
    """Why a mail about a credit note cannot go with this text, whoever wrote it (the
    compose window, a template loaded there): it asks for payment."""
    found = payment_asks(subject, body)
    if not found:
        return []
    return [
        Sentence(
            gettext_noop(
                "Ce mail demande un paiement (%(found)s) : une note de crédit ne se paie pas. "
                "Choisissez un modèle de notes de crédit, ou retirez ces mentions."
            ),
            {"found": named(found)},
        )
    ]
