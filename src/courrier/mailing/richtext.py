"""Rich text: the HTML that people write in the editor, sanitised, and what a mail makes of it.

The stored format of a body (templates, standard phrases, a batch's text) is the HTML that
`sanitize` returns: a sequence of blocks — paragraphs, bulleted and numbered lists, tables —
holding text in bold, italics or underlined, links and line breaks, and nothing else: no
attribute but a link's address and title, a list's start and a cell's spans; no style, no
class, no script. Whatever a browser posts goes through it before it is stored, and again
before a mail is built (`blocks_of`).

A mail gets two parts from the same blocks: `mail_html`, the HTML with its presentation
written inline (mail programs ignore style sheets and classes), and `text_of`, the text part
(paragraphs separated by a blank line, list items with their markers, a link as
"text (address)", a table one row per line).

Merge fields (``{NOMCLIENT}``) are plain text here; `rendering` fills them in.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import nh3

# What the editor writes, plus what a paste or an old browser may bring and we can keep the
# meaning of (b, i, div, headings): those are rewritten below into the editor's own tags.
_KEPT_TAGS = {"p", "br", "strong", "em", "u", "a", "ul", "ol", "li"}
_KEPT_TAGS |= {"table", "thead", "tbody", "tfoot", "tr", "th", "td"}
_ALLOWED_TAGS = _KEPT_TAGS | {"b", "i", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}
# Dropped with everything inside them: their text is not prose.
_DROPPED_WITH_CONTENT = {
    "script",
    "style",
    "template",
    "textarea",
    "select",
    "noscript",
    "title",
    "svg",
    "math",
    "iframe",
    "object",
    "head",
}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
URL_SCHEMES = ("http", "https", "mailto", "tel")
# A field's value goes into an address only when the mail is built, where it is checked again.
_FIELD_IN_URL = re.compile(r"^\{[^{}\s]{1,60}\}")
_SPAN = re.compile(r"^[1-9][0-9]?$")
_START = re.compile(r"^[0-9]{1,6}$")


def safe_href(url: str) -> str | None:
    """`url` when it is an absolute web, mail or phone address; None otherwise."""
    url = url.strip()
    scheme, colon, rest = url.partition(":")
    if not colon or scheme.lower() not in URL_SCHEMES or not rest:
        return None
    if any(ord(char) < 0x20 or char.isspace() for char in url):
        return None
    if scheme.lower() in ("http", "https") and not rest.startswith("//"):
        return None
    return url


def _attribute_filter(tag: str, name: str, value: str) -> str | None:
    if not value.strip():
        return None
    if name == "href":
        return value if safe_href(value) or _FIELD_IN_URL.match(value) else None
    if name in ("colspan", "rowspan"):
        return value if _SPAN.match(value) and value != "1" else None
    if name == "start":
        return value if _START.match(value) and value != "1" else None
    return value


_CLEANER = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    clean_content_tags=_DROPPED_WITH_CONTENT,
    attributes=_ATTRIBUTES,
    attribute_filter=_attribute_filter,
    link_rel=None,
    url_schemes=set(URL_SCHEMES),
    strip_comments=True,
)


# -- a small tree -------------------------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)


Node = Element | str

_VOID = {"br"}
_INLINE = {"strong", "em", "u", "a", "br", "b", "i"}
_RENAMED = {"b": "strong", "i": "em"}
_LISTS = {"ul", "ol"}


# nh3 writes well-formed HTML: lower-case tags, attributes in double quotes, text and values
# escaped. A regular expression reads it several times faster than html.parser.
_TOKENS = re.compile(r'<(/?)([a-z][a-z0-9]*)((?:\s+[^\s="/>]+(?:="[^"]*")?)*)\s*/?>|([^<]+)|<')
_ATTRIBUTE = re.compile(r'([^\s="/>]+)(?:="([^"]*)")?')


def _parse(cleaned: str) -> list[Node]:
    """The tree of HTML written by nh3."""
    root = Element("root")
    stack = [root]
    for match in _TOKENS.finditer(cleaned):
        closing, tag, attributes, text = match.groups()
        if text is not None or tag is None:
            stack[-1].children.append(html.unescape(text if text is not None else "<"))
        elif closing:
            for depth in range(len(stack) - 1, 0, -1):
                if stack[depth].tag == tag:
                    del stack[depth:]
                    break
        else:
            attrs = {
                name: html.unescape(value or "")
                for name, value in _ATTRIBUTE.findall(attributes or "")
            }
            element = Element(tag, attrs)
            stack[-1].children.append(element)
            if tag not in _VOID:
                stack.append(element)
    return root.children


def _has_content(nodes: list[Node]) -> bool:
    for node in nodes:
        if isinstance(node, str):
            if node.strip():
                return True
        elif node.tag in ("table", "ul", "ol") or _has_content(node.children):
            return True
    return False


def _inline(nodes: list[Node], *, in_link: bool = False) -> list[Node]:
    """Inline content only: text, emphasis, links, line breaks; anything else is unwrapped,
    and so is a link inside a link (HTML has none; the parser would undo it on the next read,
    so that what is stored would not be stable)."""
    result: list[Node] = []
    for node in nodes:
        if isinstance(node, str):
            if node:
                result.append(node)
            continue
        tag = _RENAMED.get(node.tag, node.tag)
        is_link = tag == "a" and bool(node.attrs.get("href")) and not in_link
        if tag == "br":
            result.append(Element("br"))
        elif tag in ("strong", "em", "u") or is_link:
            children = _inline(node.children, in_link=in_link or is_link)
            if not children:
                continue
            attrs = {key: node.attrs[key] for key in ("href", "title") if key in node.attrs}
            result.append(Element(tag, attrs if tag == "a" else {}, children))
        else:
            result.extend(_inline(node.children, in_link=in_link))
    return result


def _tidy_lines(nodes: list[Node]) -> list[Node]:
    """Line ends of the HTML source around a line break dropped: they show nothing."""
    tidy: list[Node] = []
    for index, node in enumerate(nodes):
        if isinstance(node, str):
            before = tidy[-1] if tidy else None
            after = nodes[index + 1] if index + 1 < len(nodes) else None
            if before is None or (isinstance(before, Element) and before.tag == "br"):
                node = node.lstrip("\r\n")
            if after is None or (isinstance(after, Element) and after.tag == "br"):
                node = node.rstrip("\r\n")
            if not node:
                continue
        tidy.append(node)
    return tidy


def _paragraph(nodes: list[Node]) -> Element:
    children = _tidy_lines(_inline(nodes))
    # A line break that ends a paragraph shows nothing: browsers add one to keep it open.
    while children and isinstance(children[-1], Element) and children[-1].tag == "br":
        children.pop()
    return Element("p", {}, children)


def _content(nodes: list[Node]) -> list[Node]:
    """The blocks inside a list item or a cell: at least an empty paragraph."""
    content: list[Node] = []
    content.extend(_blocks(nodes) or [Element("p")])
    return content


def _list(node: Element) -> Element:
    items: list[Node] = []
    stray: list[Node] = []
    for child in node.children:
        if isinstance(child, Element) and child.tag == "li":
            if _has_content(stray):
                items.append(Element("li", {}, _content(stray)))
            stray = []
            items.append(Element("li", {}, _content(child.children)))
        else:
            stray.append(child)
    if _has_content(stray):
        items.append(Element("li", {}, _content(stray)))
    attrs = {"start": node.attrs["start"]} if node.tag == "ol" and "start" in node.attrs else {}
    return Element(node.tag, attrs, items)


def _rows(nodes: list[Node]) -> list[Element]:
    rows: list[Element] = []
    for node in nodes:
        if not isinstance(node, Element):
            continue
        if node.tag == "tr":
            cells = [
                Element(
                    cell.tag,
                    {key: cell.attrs[key] for key in ("colspan", "rowspan") if key in cell.attrs},
                    _content(cell.children),
                )
                for cell in node.children
                if isinstance(cell, Element) and cell.tag in ("td", "th")
            ]
            if cells:
                row: list[Node] = list(cells)
                rows.append(Element("tr", {}, row))
        else:
            rows.extend(_rows(node.children))
    return rows


def _blocks(nodes: list[Node]) -> list[Element]:
    """A sequence of blocks: loose inline content becomes a paragraph, sections unwrap."""
    blocks: list[Element] = []
    pending: list[Node] = []

    def flush() -> None:
        if _has_content(pending):
            blocks.append(_paragraph(pending))
        pending.clear()

    for node in nodes:
        if isinstance(node, str) or _RENAMED.get(node.tag, node.tag) in _INLINE:
            pending.append(node)
            continue
        flush()
        if node.tag == "p":
            blocks.append(_paragraph(node.children))
        elif node.tag in _LISTS:
            blocks.append(_list(node))
        elif node.tag == "table":
            rows = _rows(node.children)
            if rows:
                body: list[Node] = list(rows)
                blocks.append(Element("table", {}, [Element("tbody", {}, body)]))
        elif node.tag == "li":
            blocks.append(_list(Element("ul", {}, [node])))
        else:  # div, headings, quotes, a stray row: their content, as blocks
            blocks.extend(_blocks(node.children))
    flush()
    return blocks


def _trimmed(blocks: list[Element]) -> list[Element]:
    """Without the empty paragraphs at either end (the editor leaves one in an empty body)."""
    start, end = 0, len(blocks)
    while start < end and blocks[start].tag == "p" and not _has_content(blocks[start].children):
        start += 1
    while end > start and blocks[end - 1].tag == "p" and not _has_content(blocks[end - 1].children):
        end -= 1
    return blocks[start:end]


def blocks_of(markup: str) -> list[Element]:
    """`markup` sanitised with the allow-list and cut into the blocks of the stored format."""
    return _trimmed(_blocks(_parse(_CLEANER.clean(markup))))


def sanitize(markup: str) -> str:
    """The stored format of any HTML: allowed tags and attributes only, in blocks; "" when
    nothing visible is left. sanitize(sanitize(x)) == sanitize(x)."""
    return to_html(blocks_of(markup))


def is_stored(value: str) -> bool:
    """Whether `value` is in the stored format already (what seeds and migrations must give)."""
    return value == "" or (value.startswith("<") and sanitize(value) == value)


def text_html(text: str) -> str:
    """Plain text, taken as written, in the stored format: a paragraph per run of lines
    between blank lines, a line break per line, every character escaped (no markup is read:
    a "*" stays a "*"). What a signature typed before the editor becomes; `text_of` gives its
    lines back."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs: list[list[str]] = [[]]
    for line in text.split("\n"):
        if line.strip():
            paragraphs[-1].append(line.rstrip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return sanitize(
        "\n".join(
            "<p>" + "<br>".join(html.escape(line) for line in lines) + "</p>"
            for lines in paragraphs
            if lines
        )
    )


# -- writing the tree back ----------------------------------------------------------------------


def _attrs(attrs: dict[str, str]) -> str:
    return "".join(f' {name}="{html.escape(value)}"' for name, value in attrs.items())


def _serialize(
    node: Node, styles: dict[str, str] | None, nested: dict[str, str] | None = None
) -> str:
    """`node` as HTML; with `styles`, each tag's presentation inline (`nested` below it)."""
    if isinstance(node, str):
        return html.escape(node)
    attrs = dict(node.attrs)
    if styles is None:
        if node.tag in _VOID:
            return f"<{node.tag}>"
        inner = "".join(_serialize(child, None) for child in node.children)
        return f"<{node.tag}{_attrs(attrs)}>{inner}</{node.tag}>"
    if node.tag in styles:
        attrs["style"] = styles[node.tag]
    if node.tag in _VOID:
        return f"<{node.tag}{_attrs(attrs)}>\n"
    below = nested if nested is not None else styles
    children = node.children
    if node.tag in ("li", "td", "th") and len(children) == 1:
        only = children[0]
        if isinstance(only, Element) and only.tag == "p":
            children = only.children  # one paragraph: its words, without a margin of their own
    parts = [_serialize(child, below, nested) for child in children]
    if node.tag == "p" and not _has_content(children):
        parts = ["<br>"]  # an empty line the writer left on purpose keeps its height
    if node.tag in _LISTS or node.tag in ("tbody", "tr", "table"):
        inner = "\n" + "\n".join(parts) + "\n"
    else:
        inner = "".join(parts).removesuffix("\n")
    return f"<{node.tag}{_attrs(attrs)}>{inner}</{node.tag}>"


def to_html(blocks: list[Element]) -> str:
    """The stored form of `blocks`: one block a line, no presentation."""
    return "\n".join(_serialize(block, None) for block in blocks)


_CELL = "border:1px solid #b7b7b7;padding:4px 8px;vertical-align:top;text-align:left"
_LIST = "margin:0 0 1em 0;padding-left:1.5em"
MAIL_STYLES = {
    "p": "margin:0 0 1em 0",
    "ul": _LIST,
    "ol": _LIST,
    "table": "border-collapse:collapse;margin:0 0 1em 0",
    "td": _CELL,
    "th": _CELL + ";font-weight:bold;background:#f2f2f2",
}
# Inside a list or a table, paragraphs and lists add no space of their own.
_NESTED_STYLES = MAIL_STYLES | {
    "p": "margin:0",
    "ul": "margin:0;padding-left:1.5em",
    "ol": "margin:0;padding-left:1.5em",
}


def mail_html(blocks: list[Element]) -> str:
    """The HTML of a mail's body: every presentation written inline, tables with borders."""
    return "\n".join(_serialize(block, MAIL_STYLES, _NESTED_STYLES) for block in blocks)


# -- the text part ------------------------------------------------------------------------------

_SOURCE_BREAKS = re.compile(r"[\r\n\f]+")


def _words(text: str) -> str:
    # A line break in HTML source is a space; the spaces and tabs written are kept.
    return _SOURCE_BREAKS.sub(" ", text).replace("\u00a0", " ")


def link_text(label: str, href: str) -> str:
    """A link as the text part writes it: the address alone when the label is the address,
    else "label (address)"."""
    label = label.strip()
    written = href[len("mailto:") :] if href.lower().startswith("mailto:") else href
    if not label or label in (href, written) or href in (f"https://{label}", f"http://{label}"):
        return label or written
    return f"{label} ({href})"


_EMPHASIS_MARKS = {"strong": "**", "em": "*"}


def _inline_text(nodes: list[Node], markup: bool = False) -> str:
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            parts.append(_words(node))
        elif node.tag == "br":
            parts.append("\n")
        elif node.tag == "a" and node.attrs.get("href"):
            label = _inline_text(node.children, markup)
            href = node.attrs["href"]
            parts.append(f"[{label}]({href})" if markup else link_text(label, href))
        else:
            mark = _EMPHASIS_MARKS.get(node.tag, "") if markup else ""
            parts.append(mark + _inline_text(node.children, markup) + mark)
    return "".join(parts)


def _indent(text: str, prefix: str) -> str:
    return "\n".join((prefix + line) if line else line for line in text.split("\n"))


def _block_text(node: Element, markup: bool = False) -> str:
    if node.tag == "p":
        return _inline_text(node.children, markup).strip()
    if node.tag in _LISTS:
        number = int(node.attrs.get("start", "1"))
        items = []
        for item in node.children:
            if not isinstance(item, Element):
                continue
            marker = f"{number}. " if node.tag == "ol" else "- "
            number += 1
            inner = "\n".join(
                _block_text(child, markup) for child in item.children if isinstance(child, Element)
            ).strip("\n")
            items.append(marker + _indent(inner, " " * len(marker)).lstrip())
        return "\n".join(items)
    if node.tag == "table":
        lines = []
        for row in _rows(node.children):
            cells = [
                " ".join(
                    _block_text(child, markup).replace("\n", " ")
                    for child in cell.children
                    if isinstance(child, Element)
                ).strip()
                for cell in row.children
                if isinstance(cell, Element)
            ]
            lines.append(" | ".join(cells).rstrip())
        return "\n".join(lines)
    return _inline_text(node.children, markup)


def text_of(blocks: list[Element], *, markup: bool = False) -> str:
    """The text part of a mail whose body is `blocks`: one blank line between blocks. With
    `markup`, bold, italics and links are written in the light markup (``**bold**``,
    ``*italics*``, ``[text](address)``), which `rendering.markup_html` reads back."""
    text = "\n\n".join(_block_text(block, markup) for block in blocks)
    # An empty paragraph left for spacing adds no second blank line.
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")
