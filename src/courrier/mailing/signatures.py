"""Who signs a mail, and with which text.

- A mail that goes through a billing company's profile (an invoice batch, "@", sending on
  issue, any mail about an invoice) is signed by that company; every other mail by the
  collaborator who sends it. Never both.
- The signer has one version per mail language. The mail gets the version in its own
  language; without one, it goes unsigned rather than signed in another language (a Dutch
  client never reads "Expert-comptable, Tél."), and the preview and the pre-send check say so.
- A body that signs itself gets no signature: its last non-empty line is, or ends with, a
  field naming who writes (`SIGNING_FIELDS`, e.g. "{EXPEDITEUR}", "L'équipe de {CABINET}").

`mail_signature` is the one place that decides; the renderer only appends what it returns.
A signature is stored as the editor writes it (sanitised HTML; a plain text typed before the
editor is read line by line): the mail's HTML part carries its HTML, its text part the text
derived from it as a body's is (`rendering.signature_blocks`).

What a mail adds to its body (the paragraph giving the files sent by secure link) goes before
the body's sign-off — its closing formula ("Bien à vous,", "Met vriendelijke groeten") and
the lines that name who writes — never under it: `sign_off_start` finds where it starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext as _

from courrier.firm.models import BillingCompany, Collaborator
from courrier.languages import MailLanguage
from courrier.mailing import richtext
from courrier.mailing.rendering import TOKEN_RE, body_html, canonical_fields

# The fields that name the writer of a mail: the sender, the firm and the billing company.
SIGNING_FIELDS = frozenset(
    {
        "EXPEDITEUR",
        "EXPEDITEUR_EMAIL",
        "EXPEDITEUR_TEL",
        "CABINET",
        "CABINET_TEL",
        "CABINET_SITE",
        "SOCIETEFACTURANTE",
    }
)
_LAST_FIELD = re.compile(TOKEN_RE + r"[ \t]*$")


class SignatureState(StrEnum):
    ADDED = "added"  # the signer's version in the mail's language
    MISSING = "missing"  # the signer has versions, none in this language: unsigned
    TEMPLATE = "template"  # the body signs itself
    NONE = "none"  # the signer has no signature at all


@dataclass(frozen=True)
class Signature:
    """What signs one mail: `text` goes after the "-- " line ("" for none)."""

    text: str
    state: SignatureState
    signer: str  # the collaborator's or the company's name
    by_company: bool
    language: str  # the mail's
    field: str = ""  # the field a body that signs itself ends with

    def note(self) -> str:
        """Which signature goes, for the preview, in the reader's language."""
        language = _language_name(self.language)
        if self.state == SignatureState.ADDED:
            if self.by_company:
                return _("%(signer)s (société facturante), version en %(language)s") % {
                    "signer": self.signer,
                    "language": language,
                }
            return _("%(signer)s, version en %(language)s") % {
                "signer": self.signer,
                "language": language,
            }
        if self.state == SignatureState.TEMPLATE:
            return _("aucune : le modèle se termine par {%(field)s} et signe lui-même") % {
                "field": self.field
            }
        if self.state == SignatureState.MISSING:
            return _("aucune : %(signer)s n'a pas de signature en %(language)s") % {
                "signer": self.signer,
                "language": language,
            }
        return _("aucune : %(signer)s n'a pas de signature") % {"signer": self.signer}

    def warning(self) -> str | None:
        """A mail that goes unsigned for want of a version in its language: said before it
        leaves, with where to add it."""
        if self.state != SignatureState.MISSING:
            return None
        params = {"signer": self.signer, "language": _language_name(self.language)}
        if self.by_company:
            return (
                _(
                    "Ce mail part sans signature : %(signer)s n'a pas de signature en "
                    "%(language)s (jamais de signature dans une autre langue). Ajoutez-la sur la "
                    "page de la société facturante."
                )
                % params
            )
        return (
            _(
                "Ce mail part sans signature : %(signer)s n'a pas de signature en %(language)s "
                "(jamais de signature dans une autre langue). Ajoutez-la dans « Ma fiche »."
            )
            % params
        )


def _language_name(code: str) -> str:
    try:
        return str(MailLanguage(code).label)
    except ValueError:
        return code


def signing_field(body: str) -> str:
    """The field that signs `body` (a template's text, fields not yet replaced): the one its
    last non-empty line is, or ends with, when it names the writer; "" otherwise."""
    # The lines as the text part reads them: a body is HTML (or the light markup of before).
    text = richtext.text_of(richtext.blocks_of(body_html(body)))
    for line in reversed(text.splitlines()):
        if line.strip():
            # {expediteur} or { EXPEDITEUR } is the field too (rendering reads them so).
            match = _LAST_FIELD.search(canonical_fields(line, SIGNING_FIELDS))
            if match and match.group(1) in SIGNING_FIELDS:
                return match.group(1)
            return ""
    return ""


# Closing formulas of the four mail languages, as a line starts with them (compared without
# case, accents kept, typographic apostrophes as straight ones).
_CLOSINGS = re.compile(
    r"^(?:"
    # French
    r"(?:bien |très )?cordialement|bien à vous|bien a vous|(?:avec )?(?:mes |nos )?"
    r"(?:meilleures |sincères |cordiales |bien sincères )?salutations|bien sincèrement"
    r"|amicalement|(?:je vous prie d'|nous vous prions d'|veuillez )agréer"
    r"|recevez,? (?:madame|monsieur)"
    # Dutch
    r"|(?:met )?(?:vriendelijke|beleefde|hartelijke) groet(?:en)?|hoogachtend|mvg"
    # German
    r"|mit freundlichen? grü(?:ß|ss)(?:en)?|(?:freundliche|beste|viele|herzliche) grü(?:ß|ss)e"
    r"|mit besten grü(?:ß|ss)en|hochachtungsvoll"
    # English
    r"|(?:with )?(?:kind|best|warm|warmest) regards|regards|yours (?:sincerely|faithfully|truly)"
    r"|sincerely|best wishes"
    r")\b"
)
_CLOSING_LENGTH = 100
# A short line ending with a comma is a closing too ("Amitiés,", "Groetjes,").
_SHORT_CLOSING = re.compile(r"^\S+(?: \S+){0,3},$")
# A name typed under a closing paragraph: a few short lines.
_NAME_LINES, _NAME_LENGTH = 4, 80


def _lines(block: richtext.Element) -> list[str]:
    return [line.strip() for line in richtext.text_of([block]).splitlines() if line.strip()]


def _is_closing(line: str, *, short: bool) -> bool:
    """Whether `line` is a closing formula; with `short`, any short line ending with a comma
    counts too."""
    line = " ".join(line.replace("\u2019", "'").split()).casefold()
    if len(line) > _CLOSING_LENGTH:
        return False
    return bool(_CLOSINGS.match(line) or (short and _SHORT_CLOSING.match(line)))


def _is_signing_line(line: str) -> bool:
    match = _LAST_FIELD.search(canonical_fields(line, SIGNING_FIELDS))
    return bool(match and match.group(1) in SIGNING_FIELDS)


def sign_off_start(blocks: list[richtext.Element]) -> int:
    """Where the sign-off of a body (its blocks, fields not yet replaced) starts: the index
    of its closing paragraph ("Bien à vous," with or without the writer's name below it), or
    of the paragraphs that only name the writer ("{EXPEDITEUR}"); `len(blocks)` when the body
    has none. Only the last paragraphs are read: a closing formula in the middle of a mail is
    not its end."""
    end = len(blocks)
    while end and blocks[end - 1].tag == "p":
        lines = _lines(blocks[end - 1])
        if not lines or not all(_is_signing_line(line) for line in lines):
            break
        end -= 1
    # The closing paragraph, or the closing then a paragraph with the name typed in it. The
    # first paragraph is the greeting: a short line with a comma there ("Madame, Monsieur,")
    # opens the mail, and so does a formula followed by the mail's text.
    for at in (end - 1, end - 2):
        if at < 0 or blocks[at].tag != "p":
            break
        lines = _lines(blocks[at])
        if not lines or not _is_closing(lines[0], short=at > 0):
            continue
        if at == end - 2:
            name = _lines(blocks[end - 1])
            too_long = len(name) > _NAME_LINES or any(len(line) > _NAME_LENGTH for line in name)
            if at == 0 or too_long:
                break
        return at
    return end


def mail_signature(
    *,
    sender: Collaborator | None,
    billing_company: BillingCompany | None,
    language: str,
    body: str,
) -> Signature:
    """The signature of a mail in `language` whose body (as written, before its fields are
    replaced) is `body`: the billing company's when the mail goes through its profile, else
    the sender's; in the mail's language or none (see the module's rules). Without a sender
    (a batch started from the command line) only a company signs."""
    signer = billing_company if billing_company is not None else sender
    if signer is None:
        return Signature("", SignatureState.NONE, "", False, language)
    name = str(signer)
    by_company = billing_company is not None
    field = signing_field(body)
    if field:
        return Signature("", SignatureState.TEMPLATE, name, by_company, language, field)
    text = signer.signature_in(language)
    if text:
        return Signature(text, SignatureState.ADDED, name, by_company, language)
    state = SignatureState.MISSING if signer.signature_languages else SignatureState.NONE
    return Signature("", state, name, by_company, language)
