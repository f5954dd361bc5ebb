"""Template + values + language -> the subject, the text part and the HTML part of a mail.

A template is plain text written by a person. ``{CODE}`` with an upper-case code is a
merge field and must be known to the context's catalogue; any other text in braces
(``{voir annexe}``) stays as it is. Fields are replaced in one pass, so a value that
itself contains ``{CODE}`` is never expanded again.

The subject goes into a header: a line break or control character typed in the subject
is refused, while whitespace and control characters coming from a value (an address on
several lines, a name pasted with a tab) are collapsed into single spaces, because the
person writing the template cannot fix the data at that moment.
"""

from __future__ import annotations

import difflib
import html
import re
import unicodedata
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from courrier.mailing.fields import fields_for

TOKEN_RE = r"\{([A-Z][A-Z0-9_]*)\}"  # noqa: S105 (a merge-field pattern, no secret)
_TOKEN = re.compile(TOKEN_RE)

# Characters that end a line for some mail software besides CR and LF.
_LINE_BREAKS = frozenset("\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029")

_URL_TRAILING = ".,;:!?'\")]}"
_LINK = re.compile(
    r"(?P<url>\b(?:https?://|www\.)[^\s<>\"]+)"
    r"|(?P<email>\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+)",
    re.IGNORECASE,
)

_BODY_STYLE = (
    "margin:0;padding:16px;font-family:Arial,Helvetica,sans-serif;"
    "font-size:14px;line-height:1.5;color:#222222;background:#ffffff"
)
_P_STYLE = "margin:0 0 1em 0"
_SIGNATURE_STYLE = "margin-top:1.5em;color:#555555"


@dataclass
class Rendered:
    subject: str
    text: str
    html: str
    language: str
    empty_fields: list[str]


def _known_codes(context: str) -> list[str]:
    try:
        return [field.code for field in fields_for(context)]
    except ValueError:
        raise ValidationError(
            _("Aucun champ n'est disponible pour le contexte « %(context)s »."),
            code="unknown_context",
            params={"context": context},
        ) from None


def _unknown_field_errors(text: str, known: list[str]) -> list[ValidationError]:
    errors: list[ValidationError] = []
    seen: set[str] = set()
    known_set = set(known)
    for match in _TOKEN.finditer(text):
        code = match.group(1)
        if code in known_set or code in seen:
            continue
        seen.add(code)
        nearest = difflib.get_close_matches(code, known, n=1)
        if nearest:
            errors.append(
                ValidationError(
                    _("Champ inconnu {%(field)s} : vouliez-vous dire {%(suggestion)s} ?"),
                    code="unknown_field",
                    params={"field": code, "suggestion": nearest[0]},
                )
            )
        else:
            errors.append(
                ValidationError(
                    _("Champ inconnu {%(field)s}."),
                    code="unknown_field",
                    params={"field": code},
                )
            )
    return errors


def check_fields(text: str, *, context: str) -> None:
    """Raise ValidationError listing every unknown {CODE} in `text`, each with the nearest
    known code when one is close enough."""
    errors = _unknown_field_errors(text, _known_codes(context))
    if errors:
        raise ValidationError(errors)


def _subject_error() -> ValidationError:
    return ValidationError(
        _("Le sujet ne peut pas contenir de retour à la ligne ni de caractère de contrôle."),
        code="header_injection",
    )


def _is_control(char: str) -> bool:
    return char in _LINE_BREAKS or unicodedata.category(char) == "Cc"


def _header_value(value: str) -> str:
    """A value made fit for a header: every run of whitespace or control characters -> one space."""
    cleaned = "".join(" " if _is_control(char) else char for char in value)
    return " ".join(cleaned.split())


def _body_text(value: str) -> str:
    """Line endings as LF, other line breaks as LF too; other control characters (NUL,
    BEL, ...) have no place in a mail and are dropped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\u2029", "\n\n")
    return "".join(
        "\n" if char in _LINE_BREAKS else char
        for char in value
        if char == "\t" or char in _LINE_BREAKS or not _is_control(char)
    )


def _replace(text: str, values: dict[str, str]) -> str:
    return _TOKEN.sub(lambda match: values.get(match.group(1), match.group(0)), text)


def _linkify(line: str) -> str:
    """Escape one line of text, turning web addresses and e-mail addresses into links."""
    parts: list[str] = []
    position = 0
    for match in _LINK.finditer(line):
        target = match.group(0)
        if match.group("url"):
            target = _strip_url_end(target)
            href = target if target.lower().startswith("http") else "https://" + target
        else:
            href = "mailto:" + target
        start, end = match.start(), match.start() + len(target)
        parts.append(html.escape(line[position:start]))
        parts.append(f'<a href="{html.escape(href)}">{html.escape(target)}</a>')
        position = end
    parts.append(html.escape(line[position:]))
    return "".join(parts)


def _strip_url_end(url: str) -> str:
    # Punctuation that ends a sentence is not part of the address; a closing bracket is,
    # when the address opened one (https://fr.wikipedia.org/wiki/TVA_(Belgique)).
    while url and url[-1] in _URL_TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _paragraphs_html(text: str, style: str) -> str:
    # A line holding only spaces is a blank line too.
    text = re.sub(r"(?m)^[ \t]+$", "", text)
    blocks = [block.strip("\n") for block in re.split(r"\n{2,}", text)]
    return "\n".join(
        f'<p style="{style}">'
        + "<br>\n".join(_linkify(line) for line in block.split("\n"))
        + "</p>"
        for block in blocks
        if block.strip()
    )


def _html_document(*, subject: str, body: str, signature: str, language: str) -> str:
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{html.escape(language)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(subject)}</title>",
        "</head>",
        f'<body style="{_BODY_STYLE}">',
        _paragraphs_html(body, _P_STYLE),
    ]
    if signature:
        parts.append(
            f'<div class="signature" style="{_SIGNATURE_STYLE}">'
            + _paragraphs_html("-- \n" + signature, _P_STYLE)
            + "</div>"
        )
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def render(
    *,
    subject: str,
    body: str,
    values: dict[str, str],
    context: str,
    language: str,
    signature: str = "",
) -> Rendered:
    """Replace the fields of `subject` and `body` with `values` and build both parts.

    Raises ValidationError for unknown fields (all of them, subject and body) and for a line
    break or control character typed in the subject. A known field without a value renders
    empty and is listed in `empty_fields`. The signature is appended as written, after the
    usual "-- " line; its braces are not fields.
    """
    known = _known_codes(context)
    errors = _unknown_field_errors(subject + "\n" + body, known)
    if any(_is_control(char) for char in subject.replace("\t", " ")):
        errors.append(_subject_error())
    if errors:
        raise ValidationError(errors)

    known_set = set(known)
    used = [
        match.group(1)
        for text in (subject, body)
        for match in _TOKEN.finditer(text)
        if match.group(1) in known_set
    ]
    empty_fields = list(dict.fromkeys(code for code in used if not values.get(code, "").strip()))
    present = {code: values.get(code, "") for code in known}

    subject_values = {code: _header_value(value) for code, value in present.items()}
    rendered_subject = " ".join(_replace(subject, subject_values).split())
    if any(_is_control(char) for char in rendered_subject):  # a last line of defence
        raise _subject_error()

    rendered_body = _body_text(_replace(body, present)).rstrip()
    clean_signature = _body_text(signature).strip("\n").rstrip()
    text = rendered_body + "\n"
    if clean_signature:
        text = rendered_body + "\n\n-- \n" + clean_signature + "\n"

    return Rendered(
        subject=rendered_subject,
        text=text,
        html=_html_document(
            subject=rendered_subject,
            body=rendered_body,
            signature=clean_signature,
            language=language,
        ),
        language=language,
        empty_fields=empty_fields,
    )
