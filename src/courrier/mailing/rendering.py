"""Template + values + language -> the subject, the text part and the HTML part of a mail.

A template is plain text written by a person. ``{CODE}`` is a merge field and must be known
to the context's catalogue. People also write ``{nomclient}``, ``{NomClient}`` or
``{ NOMCLIENT }``: one word in braces is read without regard to case, accents or the spaces
around it, so those are ``{NOMCLIENT}``. An unknown word in capitals is an error naming the
nearest code; an unknown word with small letters is one too when it is close to a code
(``{nomclien}``), and plain text otherwise (``{bonjour}``), as is any text in braces that is not
a single word (``{voir annexe}``). Nothing that looks like a field is ever sent as typed.
Fields are replaced in one pass, so a value that itself contains ``{CODE}`` is never
expanded again.

The subject goes into a header: a line break or control character typed in the subject
is refused, while whitespace and control characters coming from a value (an address on
several lines, a name pasted with a tab) are collapsed into single spaces, because the
person writing the template cannot fix the data at that moment.

The body is stored as sanitised HTML, written in the editor (see `richtext`): its fields are
filled in its text and its links' addresses, each value escaped, never read as HTML, and
bare web or e-mail addresses become links. Both parts of the mail are made from those blocks.

Before the editor, bodies were plain text with a light markup, written by the person:
``**bold**``, ``*italics*`` or ``_italics_``, lines starting with "- " or "* " (a list) or
"1. " (a numbered list), ``[text](https://...)`` links, and bare web or e-mail addresses.
`markup_html` turns such a text into the stored HTML (a migration did so for the stored
ones); `body_html` still reads a body that does not start with a tag that way. A field's
value is never read as markup: the text is parsed with each field replaced by a private
placeholder; a client named "**Acme**" stays "**Acme**".

Its size: one grammar (fields, escaping, links, the old light markup) read in one pass; its
parts share the placeholders that keep a value from ever being read as markup or as a field.
"""

from __future__ import annotations

import difflib
import html
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from courrier.mailing import richtext
from courrier.mailing.fields import fields_for

TOKEN_RE = r"\{([A-Z][A-Z0-9_]*)\}"  # noqa: S105 (a merge-field pattern, no secret)
_TOKEN = re.compile(TOKEN_RE)
# One word in braces, in any case, with spaces or tabs around it: what a person means as a field.
# (In a body's HTML a no-break space may be written "&nbsp;".)
_WORD_IN_BRACES = re.compile(r"\{(?:[ \t\u00a0]|&nbsp;)*([^\W\d_]\w*)(?:[ \t\u00a0]|&nbsp;)*\}")
# How close a word with small letters must be to a code to be taken for a mistyped field
# ({nomclien}, {contakt}) rather than plain text in braces ({client}, {bonjour}).
_NEAR_CODE = 0.85

# Characters that end a line for some mail software besides CR and LF.
_LINE_BREAKS = frozenset("\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029")
# Control characters (Unicode category Cc) other than the tab and the line breaks above.
_DROPPED_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")
_OTHER_BREAK = re.compile("[\v\f\x1c\x1d\x1e\x85\u2028\u2029]")

_URL_TRAILING = ".,;:!?'\")]}"
_FIELD_AT_END = re.compile(r"\{[^{}\s]{1,60}\}$")
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


def _code_of(word: str) -> str:
    """A word as a code: accents dropped, in capitals ({échéance} -> ECHEANCE)."""
    if word.isascii():
        return word.upper()
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).upper()


def canonical_fields(text: str, known: Collection[str]) -> str:
    """`text` with every known field written as ``{CODE}``: ``{nomclient}``, ``{NomClient}`` and
    ``{ NOMCLIENT }`` become ``{NOMCLIENT}``; anything else is left as it is."""
    known_set = set(known)

    def canonical(match: re.Match[str]) -> str:
        written = match.group(0)
        if written[1:-1] in known_set:
            return written  # already {CODE}: most of them, in a long text
        code = _code_of(match.group(1))
        return f"{{{code}}}" if code in known_set else written

    return _WORD_IN_BRACES.sub(canonical, text)


def _unknown_field_errors(text: str, known: list[str]) -> list[ValidationError]:
    errors: list[ValidationError] = []
    seen: set[str] = set()
    known_set = set(known)
    for match in _WORD_IN_BRACES.finditer(text):
        word = match.group(1)
        code = _code_of(word)
        if code in known_set or word in seen:
            continue
        seen.add(word)
        if word == code:
            nearest = difflib.get_close_matches(code, known, n=1)
        else:
            # Small letters: a field only when it is close to one; otherwise plain text.
            nearest = difflib.get_close_matches(code, known, n=1, cutoff=_NEAR_CODE)
            if not nearest:
                continue
        if nearest:
            errors.append(
                ValidationError(
                    _("Champ inconnu {%(field)s} : vouliez-vous dire {%(suggestion)s} ?"),
                    code="unknown_field",
                    params={"field": word, "suggestion": nearest[0]},
                )
            )
        else:
            errors.append(
                ValidationError(
                    _("Champ inconnu {%(field)s}."),
                    code="unknown_field",
                    params={"field": word},
                )
            )
    return errors


def check_fields(text: str, *, context: str) -> None:
    """Raise ValidationError listing every unknown field in `text` (a word in capitals, or a
    word with small letters close to a code), each with the nearest known code when one is
    close enough."""
    errors = _unknown_field_errors(text, _known_codes(context))
    if errors:
        raise ValidationError(errors)


def fields_used(text: str, *, context: str) -> list[str]:
    """The codes of the known fields `text` uses, once each, in the order they appear."""
    known = set(_known_codes(context))
    codes = _TOKEN.findall(canonical_fields(text, known))
    return [code for code in dict.fromkeys(codes) if code in known]


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
    # Two regular expressions, not a loop over characters: 0.5 ms for a 60 KB body, not 9.
    return _OTHER_BREAK.sub("\n", _DROPPED_CONTROL.sub("", value))


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
        if url[-1] == "}" and _FIELD_AT_END.search(url):
            break  # "https://x.be/{NUMCLIENT}": the field is the address's end, filled in later
        url = url[:-1]
    return url


# -- light markup -----------------------------------------------------------------------------

# Private-use characters stand for a field's value or a link while the template's markup is
# read; they are taken among those the template does not contain, so nothing typed can
# impersonate them.
_PRIVATE_RANGES = ((0xE000, 0xF8FF), (0xF0000, 0xFFFFD))
_PRIVATE = "\ue000-\uf8ff\U000f0000-\U000ffffd"
# Word characters for the emphasis boundaries: a placeholder counts as a word.
_WORD = rf"[^\W_]|[{_PRIVATE}]"

_BULLET = re.compile(r"^([ \t]*[-*•][ \t]+)(?=\S)(.*)$")
_NUMBERED = re.compile(r"^([ \t]*(\d{1,3})[.)][ \t]+)(?=\S)(.*)$")
_MARKDOWN_LINK = re.compile(
    r"\[(?P<label>[^\[\]\n]{1,300})\]\((?P<url>(?:[^\s()<>]|\([^\s()<>]*\))+)\)"
)
_SAFE_URL = re.compile(r"(?:https?://[^\s/?#]+|mailto:[^\s@]+@[^\s@]+|www\.[^\s/?#]+)\S*", re.I)
_STRONG_EM = re.compile(r"\*\*\*(?=[^\s*])(?P<inner>.{1,500}?)(?<=[^\s*])\*\*\*")
_STRONG = re.compile(r"\*\*(?=\S)(?P<inner>.{1,500}?)(?<=\S)\*\*")
_EM_STAR = re.compile(rf"(?<!\*)(?<!{_WORD})\*(?=[^\s*])(?P<inner>.{{1,500}}?)(?<=[^\s*])\*(?!\*)")
_EM_UNDERSCORE = re.compile(
    rf"(?<!_)(?<!{_WORD})_(?=[^\s_])(?P<inner>.{{1,500}}?)(?<=[^\s_])_(?!_)(?!{_WORD})"
)
# Where two could start at the same place, the first listed wins.
_EMPHASES = (
    (_STRONG_EM, "strong em"),
    (_STRONG, "strong"),
    (_EM_STAR, "em"),
    (_EM_UNDERSCORE, "em"),
)
_LIST_STYLE = "margin:0 0 1em 0;padding-left:1.5em"


@dataclass
class _Link:
    href: str  # resolved and checked
    written: str  # the address as the text part shows it
    label: list[_Node]


@dataclass
class _Emphasis:
    tag: str  # "strong" or "em"
    children: list[_Node]


_Node = str | _Emphasis | _Link


class _Masks:
    """Fresh placeholders for one body: each stands for a value, a link or an address."""

    def __init__(self, text: str) -> None:
        self._taken = set(text)
        self._free = (
            chr(code)
            for start, end in _PRIVATE_RANGES
            for code in range(start, end + 1)
            if chr(code) not in self._taken
        )
        self.values: dict[str, str] = {}  # placeholder -> a field's value (plain text)
        self.links: dict[str, _Link] = {}  # placeholder -> a link written [text](url)
        self.addresses: dict[str, str] = {}  # placeholder -> a bare address, kept whole

    def new(self) -> str:
        return next(self._free)

    def resolve(self, text: str) -> str:
        """Addresses and values put back: the plain text (links are the caller's)."""
        for mark, written in self.addresses.items():
            text = text.replace(mark, written)
        for mark, value in self.values.items():
            text = text.replace(mark, value)
        return text


def _strip_markup_end(url: str) -> str:
    # "**https://x.be**": the closing markers are the markup's, not the address's.
    url = _strip_url_end(url)
    while url and url[-1] in "*_":
        url = _strip_url_end(url[:-1])
    return url


def _safe_href(url: str) -> str | None:
    if _TOKEN.match(url):
        return url  # a field: its value is checked when the mail is built
    if any(_is_control(char) for char in url) or not _SAFE_URL.fullmatch(url):
        return None
    return "https://" + url if url.lower().startswith("www.") else url


def _protect_links(line: str, masks: _Masks) -> str:
    """Links and bare addresses of the line replaced by placeholders, so that an underscore
    or an asterisk inside an address is never read as emphasis."""

    def link(match: re.Match[str]) -> str:
        written = masks.resolve(match.group("url"))
        href = _safe_href(written)
        if href is None:
            return match.group(0)  # not a web or mail address: stays as typed
        mark = masks.new()
        masks.links[mark] = _Link(href=href, written=written, label=_emphasis(match["label"]))
        return mark

    line = _MARKDOWN_LINK.sub(link, line)

    def address(match: re.Match[str]) -> str:
        target = match.group(0)
        if match.group("url"):
            target = _strip_markup_end(target)
        mark = masks.new()
        masks.addresses[mark] = target
        return mark + match.group(0)[len(target) :]

    return _LINK.sub(address, line)


def _emphasis(text: str) -> list[_Node]:
    """The text cut into plain runs and emphasised ones."""
    nodes: list[_Node] = []
    while text:
        found: tuple[re.Match[str], str] | None = None
        for pattern, tag in _EMPHASES:
            match = pattern.search(text)
            if match and (found is None or match.start() < found[0].start()):
                found = (match, tag)
        if found is None:
            nodes.append(text)
            break
        match, tag = found
        if match.start():
            nodes.append(text[: match.start()])
        children = _emphasis(match.group("inner"))
        if tag == "strong em":
            children = [_Emphasis(tag="em", children=children)]
            tag = "strong"
        nodes.append(_Emphasis(tag=tag, children=children))
        text = text[match.end() :]
    return nodes


def _inline_text(nodes: list[_Node], masks: _Masks) -> str:
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, _Emphasis):
            parts.append(_inline_text(node.children, masks))
        elif isinstance(node, _Link):
            parts.append(_link_text(node, masks))
        else:
            parts.append(_plain_text(node, masks))
    return "".join(parts)


def _link_text(link: _Link, masks: _Masks) -> str:
    label = _inline_text(link.label, masks)
    if label.strip() in (link.written, link.href) or not label.strip():
        return link.written
    return f"{label} ({link.written})"


def _plain_text(text: str, masks: _Masks) -> str:
    parts: list[str] = []
    run: list[str] = []
    for char in text:
        if char in masks.links:
            parts.append(masks.resolve("".join(run)))
            parts.append(_link_text(masks.links[char], masks))
            run = []
        else:
            run.append(char)
    parts.append(masks.resolve("".join(run)))
    return "".join(parts)


def _escaped_lines(text: str, *, links: bool) -> str:
    lines = text.split("\n")
    if links:
        return "<br>\n".join(_linkify(line) for line in lines)
    return "<br>\n".join(html.escape(line) for line in lines)


def _inline_html(nodes: list[_Node], masks: _Masks, *, in_link: bool = False) -> str:
    parts: list[str] = []

    def plain(run: list[str]) -> None:
        if run:
            # Inside a link nothing more becomes a link.
            parts.append(_escaped_lines(masks.resolve("".join(run)), links=not in_link))

    for node in nodes:
        if isinstance(node, _Emphasis):
            inner = _inline_html(node.children, masks, in_link=in_link)
            parts.append(f"<{node.tag}>{inner}</{node.tag}>")
        elif isinstance(node, _Link):
            parts.append(_link_html(node, masks))
        else:
            run: list[str] = []
            for char in node:
                if char in masks.links:
                    plain(run)
                    run = []
                    parts.append(_link_html(masks.links[char], masks))
                else:
                    run.append(char)
            plain(run)
    return "".join(parts)


def _link_html(link: _Link, masks: _Masks) -> str:
    label = _inline_html(link.label, masks, in_link=True) or html.escape(link.written)
    return f'<a href="{html.escape(link.href)}">{label}</a>'


@dataclass
class _Line:
    kind: str  # "p", "ul" or "ol"
    marker: str  # the list marker as typed ("- ", "1. "), kept in the text part
    number: int
    nodes: list[_Node]


def _lines(template: str, values: dict[str, str]) -> tuple[list[_Line | None], _Masks]:
    """The template's lines, markup read with every field masked; None for a blank line."""
    masks = _Masks(template)
    marks: dict[str, str] = {}

    def mask(match: re.Match[str]) -> str:
        code = match.group(1)
        if code not in values:
            return match.group(0)
        if code not in marks:
            marks[code] = masks.new()
            masks.values[marks[code]] = _body_text(values[code])
        return marks[code]

    masked = _TOKEN.sub(mask, template)
    lines: list[_Line | None] = []
    for raw in masked.split("\n"):
        if not raw.strip():
            lines.append(None)
            continue
        kind, marker, number, content = "p", "", 0, raw
        if bullet := _BULLET.match(raw):
            kind, marker, content = "ul", bullet.group(1), bullet.group(2)
        elif numbered := _NUMBERED.match(raw):
            kind, marker, content = "ol", numbered.group(1), numbered.group(3)
            number = int(numbered.group(2))
        nodes = _emphasis(_protect_links(content, masks))
        if kind == "p" and not _inline_text(nodes, masks).strip():
            # Only empty fields on that line: a blank line, as in the text part.
            lines.append(None)
            continue
        lines.append(_Line(kind=kind, marker=marker, number=number, nodes=nodes))
    return lines, masks


def _body_text_part(lines: list[_Line | None], masks: _Masks) -> str:
    """The text part as the light markup wrote it, straight from its lines (before the HTML
    body): kept to check that a conversion to HTML loses nothing."""
    return "\n".join(
        "" if line is None else line.marker + _inline_text(line.nodes, masks) for line in lines
    ).rstrip()


def _body_html(lines: list[_Line | None], masks: _Masks) -> str:
    blocks: list[str] = []
    run: list[_Line] = []

    def close() -> None:
        if not run:
            return
        kind = run[0].kind
        if kind == "p":
            inner = "<br>\n".join(_inline_html(line.nodes, masks) for line in run)
            blocks.append(f'<p style="{_P_STYLE}">{inner}</p>')
        else:
            items = "\n".join(f"<li>{_inline_html(line.nodes, masks)}</li>" for line in run)
            start = f' start="{run[0].number}"' if kind == "ol" and run[0].number != 1 else ""
            blocks.append(f'<{kind}{start} style="{_LIST_STYLE}">\n{items}\n</{kind}>')
        run.clear()

    for line in lines:
        if line is None or (run and line.kind != run[0].kind):
            close()
        if line is not None:
            run.append(line)
    close()
    return "\n".join(blocks)


# -- the stored format: sanitised HTML --------------------------------------------------------


def markup_html(text: str) -> str:
    """Text in the light markup above (what bodies were before the editor, what a seed or a
    text made by code may still be) as the stored HTML: exactly the markup the renderer read,
    its fields kept as ``{CODE}``."""
    text = _body_text(text)
    # Each field stands for itself: masked while the markup is read, as when a mail is built.
    fields = {match.group(1): match.group(0) for match in _TOKEN.finditer(text)}
    lines, masks = _lines(text, fields)
    return richtext.sanitize(_body_html(lines, masks))


# HTML starts with one of the tags the editor writes (or a paste brings); "<Nom>" does not.
_HTML_START = re.compile(
    r"\s*<(?:p|br|strong|em|u|a|ul|ol|li|table|b|i|div|h[1-6]|blockquote|span)[\s/>]",
    re.IGNORECASE,
)


def body_html(body: str) -> str:
    """Any body in the stored format. HTML (it starts with a tag) is sanitised; any other
    text is read as light markup, so that a seed or a text made by code in that form, or typed
    in the plain field of a page whose script did not run, keeps its paragraphs."""
    if not body.strip():
        return ""
    if _HTML_START.match(body):
        return richtext.sanitize(body)
    return markup_html(body)


def signature_html(signature: str) -> str:
    """A signature in the stored format. HTML (written in the editor) is sanitised; any other
    text is a signature typed before the editor, taken as written, line by line (never read as
    light markup: its "*" and "_" are characters)."""
    signature = _body_text(signature)
    if not signature.strip():
        return ""
    if _HTML_START.match(signature):
        return richtext.sanitize(signature)
    return richtext.text_html(signature)


def signature_blocks(signature: str) -> list[richtext.Element]:
    """The blocks of a signature (any form `signature_html` takes) as a mail shows them: its
    braces are not fields, its bare web and e-mail addresses are links."""
    filler = _Filler({})
    blocks: list[richtext.Element] = []
    for block in richtext.blocks_of(signature_html(signature)):
        filled, _had = filler.element(block, in_link=False)
        blocks.extend(node for node in filled if isinstance(node, richtext.Element))
    return blocks


def _linked(text: str) -> list[richtext.Node]:
    """Web and e-mail addresses in `text` made links, as the light markup always did."""
    nodes: list[richtext.Node] = []
    position = 0
    for match in _LINK.finditer(text):
        target = match.group(0)
        if match.group("url"):
            target = _strip_url_end(target)
            href = target if target.lower().startswith("http") else "https://" + target
        else:
            href = "mailto:" + target
        start = match.start()
        if start > position:
            nodes.append(text[position:start])
        nodes.append(richtext.Element("a", {"href": href}, [target]))
        position = start + len(target)
    if position < len(text):
        nodes.append(text[position:])
    return nodes


class _Filler:
    """Puts the values of the fields into the blocks of a body. A value is text: it is never
    read as HTML nor as a field again; its line breaks become line breaks."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = {code: _body_text(value) for code, value in values.items()}

    def text(self, text: str, *, in_link: bool) -> tuple[list[richtext.Node], bool]:
        if "{" not in text:  # no field here: the usual case, made quick
            return (_linked(text) if not in_link else [text]), False
        masks = _Masks(text)
        marks = {code: masks.new() for code in self.values}
        by_mark = {mark: code for code, mark in marks.items()}
        masked = _replace(text, marks)
        if masked == text:
            return (_linked(text) if not in_link else [text]), False
        nodes: list[richtext.Node] = []
        run: list[str] = []

        def plain() -> None:
            if run:
                nodes.extend(_linked("".join(run)) if not in_link else ["".join(run)])
                run.clear()

        for char in masked:
            code = by_mark.get(char)
            if code is None:
                run.append(char)
                continue
            plain()
            for index, line in enumerate(self.values[code].split("\n")):
                if index:
                    nodes.append(richtext.Element("br"))
                if line:
                    nodes.extend(_linked(line) if not in_link else [line])
        plain()
        return nodes, True

    def nodes(
        self, nodes: list[richtext.Node], *, in_link: bool = False
    ) -> tuple[list[richtext.Node], bool]:
        filled: list[richtext.Node] = []
        any_field = False
        for node in nodes:
            if isinstance(node, str):
                parts, had = self.text(node, in_link=in_link)
                filled.extend(parts)
                any_field |= had
                continue
            elements, had = self.element(node, in_link=in_link)
            any_field |= had
            filled.extend(elements)
        return filled, any_field

    def paragraph(self, node: richtext.Element) -> tuple[list[richtext.Node], bool]:
        """A paragraph filled line by line: a line that only empty fields made is a blank
        line, which ends the paragraph, as in the text part."""
        lines: list[list[richtext.Node]] = [[]]
        for child in node.children:
            if isinstance(child, richtext.Element) and child.tag == "br":
                lines.append([])
            else:
                lines[-1].append(child)
        paragraphs: list[list[richtext.Node]] = [[]]
        any_field = False
        for line in lines:
            filled, had = self.nodes(line)
            any_field |= had
            if had and not _visible(filled):
                if paragraphs[-1]:
                    paragraphs.append([])
                continue
            if paragraphs[-1]:
                paragraphs[-1].append(richtext.Element("br"))
            paragraphs[-1].extend(filled)
        kept: list[richtext.Node] = [
            richtext.Element("p", {}, children) for children in paragraphs if children
        ]
        if not kept and not any_field:
            kept = [richtext.Element("p")]  # an empty line left on purpose
        return kept, any_field

    def element(self, node: richtext.Element, *, in_link: bool) -> tuple[list[richtext.Node], bool]:
        if node.tag == "p":
            return self.paragraph(node)
        attrs = dict(node.attrs)
        had = False
        in_header = {code: _header_value(value) for code, value in self.values.items()}
        for name in ("href", "title"):
            if name in attrs:
                value = _replace(attrs[name], in_header)
                had |= value != attrs[name]
                attrs[name] = value
        if "href" in attrs and attrs["href"].lower().startswith("www."):
            attrs["href"] = "https://" + attrs["href"]
        children, had_inside = self.nodes(node.children, in_link=in_link or node.tag == "a")
        had |= had_inside
        if node.tag == "a" and richtext.safe_href(attrs.get("href", "")) is None:
            return children, had  # an address a value made unusable: the words stay, not the link
        if had and node.tag in ("p", "li") and not _visible(children):
            return [], had  # only empty fields there: nothing to show, as in the text part
        return [richtext.Element(node.tag, attrs, children)], had


def _visible(nodes: list[richtext.Node]) -> bool:
    for node in nodes:
        if isinstance(node, str):
            if node.strip():
                return True
        elif node.tag in ("table", "ul", "ol") or _visible(node.children):
            return True
    return False


def body_blocks(body: str, values: dict[str, str]) -> list[richtext.Element]:
    """The blocks of `body` (any form `body_html` takes), its fields filled with `values`."""
    filler = _Filler(values)
    blocks: list[richtext.Element] = []
    for block in richtext.blocks_of(body_html(_body_text(body))):
        filled, _had = filler.element(block, in_link=False)
        blocks.extend(node for node in filled if isinstance(node, richtext.Element))
    return blocks


def _html_document(
    *, subject: str, body_html: str, signature: list[richtext.Element], language: str
) -> str:
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{html.escape(language)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(subject)}</title>",
        "</head>",
        f'<body style="{_BODY_STYLE}">',
        body_html,
    ]
    if signature:
        # The "-- " line that mail programs know, then the signature as its author wrote it.
        parts.append(
            f'<div class="signature" style="{_SIGNATURE_STYLE}">'
            + '<p style="margin:0">-- </p>\n'
            + richtext.mail_html(signature)
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
    empty and is listed in `empty_fields`. `body` is in the stored format (sanitised HTML) or
    in the light markup (see `body_html`). The signature (its stored HTML, or a plain text
    typed before the editor: see `signature_html`) is appended after the usual "-- " line,
    its HTML to the HTML part, its text, derived as a body's is, to the text part; its braces
    are not fields.
    """
    known = _known_codes(context)
    subject, body = canonical_fields(subject, known), canonical_fields(body, known)
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

    blocks = body_blocks(body, present)
    rendered_body = richtext.text_of(blocks)
    signed = signature_blocks(signature)
    text = rendered_body + "\n"
    if signed:
        text = rendered_body + "\n\n-- \n" + richtext.text_of(signed) + "\n"

    return Rendered(
        subject=rendered_subject,
        text=text,
        html=_html_document(
            subject=rendered_subject,
            body_html=richtext.mail_html(blocks),
            signature=signed,
            language=language,
        ),
        language=language,
        empty_fields=empty_fields,
    )
