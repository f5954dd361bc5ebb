"""Sentences the server writes down for people to read later, in the reader's language.

A delivery run, a batch task or a connection test explains what happened in a sentence that
someone else reads later, in their own interface language: an explanation is therefore stored
as its French source (the gettext msgid, marked with `gettext_noop` so that makemessages finds
it) and its parameters, and put into words only when it is shown. Nothing is translated when it
is written: delivery settles thousands of messages, and only the few that are looked at are
ever rendered.

    Sentence(gettext_noop("Le serveur %(host)s refuse la connexion."), {"host": host})

A parameter is a number, plain text (an address, a host name: shown as it is), or itself a
`Text` (a sentence of ours, a server's own answer, a moment). The server's own words stay as
the server wrote them (`Verbatim`), inside the translated explanation (`Lines`).

Stored in a text column (`ServerTextField`), a `Verbatim` is its text and anything else is
a small JSON object; text that is not one of those objects, such as the rows written before
explanations were stored this way, reads as `Verbatim`: it is shown as it was written. In a
JSON column (`MailBatch.blocked`), `Text.as_json()` is stored and `text_of()` reads it back.
`str(text)` renders in the active language, so a template's `{{ message.last_error }}` speaks
its reader's language; `{{ value|server_text }}` does the same for a value read from JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import formats, timezone
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_lazy, pgettext, pgettext_lazy

from courrier.sizes import file_size

# What a parameter may be once stored: JSON scalars, or a Text.
Param = str | int | float | bool | None


class Text:
    """Something said by Courrier or by a server, put into words by `str()` in the active
    language. Immutable; equal when stored alike."""

    __slots__ = ()

    def render(self) -> str:
        raise NotImplementedError

    def as_json(self) -> Any:
        """The JSON value that `text_of` reads back."""
        raise NotImplementedError

    def stored(self) -> str:
        """The value kept in a text column (see ServerTextField)."""
        return json.dumps(self.as_json(), ensure_ascii=False, separators=(",", ":"))

    def __str__(self) -> str:
        return self.render()

    def __bool__(self) -> bool:
        return True

    def __contains__(self, item: str) -> bool:
        return item in self.render()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Text):
            return type(self) is type(other) and self.as_json() == other.as_json()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.stored())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.stored()})"


class Verbatim(Text):
    """Words shown as they were written: a server's answer, an address, an old stored row."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = str(text)

    def render(self) -> str:
        return self.text

    def as_json(self) -> str:
        return self.text

    def stored(self) -> str:
        return self.text

    def __bool__(self) -> bool:
        return bool(self.text)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.text == other
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash(self.text)


class Sentence(Text):
    """A sentence of ours: its French msgid (and gettext context), translated when rendered,
    then filled with its parameters."""

    __slots__ = ("context", "msgid", "params")

    def __init__(
        self, msgid: str, params: Mapping[str, Any] | None = None, *, context: str = ""
    ) -> None:
        self.msgid = str(msgid)
        self.params = {str(name): _param(value) for name, value in (params or {}).items()}
        self.context = context

    def render(self) -> str:
        msgid: str = self.msgid
        translated = pgettext(self.context, msgid) if self.context else gettext(msgid)
        if not self.params:
            return translated
        values = {
            name: value.render() if isinstance(value, Text) else value
            for name, value in self.params.items()
        }
        try:
            return translated % values
        except (KeyError, ValueError, TypeError):
            # A translation that lost or changed a placeholder: the French sentence, whole.
            try:
                return msgid % values
            except (KeyError, ValueError, TypeError):
                return msgid

    def __mod__(self, params: Mapping[str, Any]) -> Sentence:
        """The sentence with its parameters, still untranslated (as `gettext_lazy(...) % x`
        would be if it stayed lazy)."""
        return Sentence(self.msgid, {**self.params, **params}, context=self.context)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"msgid": self.msgid}
        if self.params:
            data["params"] = {
                name: value.as_json() if isinstance(value, Text) else value
                for name, value in self.params.items()
            }
        if self.context:
            data["context"] = self.context
        return data


class Lines(Text):
    """Parts said one after the other: an explanation, then the server's answer on its own line."""

    __slots__ = ("parts", "sep")

    def __init__(self, *parts: Text | str | Promise | None, sep: str = "\n") -> None:
        kept = tuple(
            part if isinstance(part, Text) else text_of(part) for part in parts if part is not None
        )
        self.parts = tuple(part for part in kept if part)
        self.sep = sep

    def render(self) -> str:
        return self.sep.join(part.render() for part in self.parts)

    def as_json(self) -> dict[str, Any]:
        return {"lines": [part.as_json() for part in self.parts], "sep": self.sep}

    def stored(self) -> str:
        return super().stored() if self.parts else ""

    def __bool__(self) -> bool:
        return bool(self.parts)


class Moment(Text):
    """A date and time, shown on the firm's clock (Europe/Brussels) as 31/12/2026 14:05."""

    __slots__ = ("at",)

    def __init__(self, at: datetime) -> None:
        self.at = at

    def render(self) -> str:
        at: datetime = self.at
        local = timezone.localtime(at) if timezone.is_aware(at) else at
        return formats.date_format(local, "d/m/Y H:i")

    def as_json(self) -> dict[str, str]:
        return {"at": self.at.isoformat()}


class Size(Text):
    """The size of a file or a mail (a `limit`: rounded down), written when it is read as
    `courrier.sizes` writes it in the reader's language: 1,5 Mo, 1,5 MB, 1.5 MB."""

    __slots__ = ("limit", "size")

    def __init__(self, size: int, *, limit: bool = False) -> None:
        self.size = int(size)
        self.limit = bool(limit)

    def render(self) -> str:
        return file_size(self.size, limit=self.limit)

    def as_json(self) -> dict[str, Any]:
        return {"bytes": self.size, "limit": self.limit}


# A lazy gettext string (a TextChoices label, a form's message) carries its msgid: it becomes a
# Sentence. Django keeps a lazy call's arguments in `_args` (gettext_lazy: the msgid;
# pgettext_lazy: the context and the msgid); tests/test_texts.py pins it.
_GETTEXT_LAZY = type(gettext_lazy(""))
_PGETTEXT_LAZY = type(pgettext_lazy("", ""))


def _from_lazy(value: Promise) -> Text:
    args: tuple[Any, ...] = tuple(getattr(value, "_args", ()))
    if type(value) is _GETTEXT_LAZY and len(args) == 1 and isinstance(args[0], str):
        return Sentence(args[0])
    if type(value) is _PGETTEXT_LAZY and len(args) == 2 and isinstance(args[1], str):
        return Sentence(args[1], context=str(args[0]))
    return Verbatim(str(value))


def _param(value: Any) -> Text | Param:
    if type(value) is str:  # the usual case first: an address, a host name
        return value
    if isinstance(value, Text | int | float | bool) or value is None:
        return value
    if isinstance(value, Promise):
        return _from_lazy(value)
    if isinstance(value, datetime):
        return Moment(value)
    if isinstance(value, Mapping | list):
        return text_of(value)
    return str(value)


def text_of(value: Any) -> Text:
    """Whatever was said, as a Text: a Text as it is, a lazy translation as its Sentence, a
    value read from JSON (`Text.as_json()`) as what it was, any other text as Verbatim."""
    if isinstance(value, Text):
        return value
    if isinstance(value, Promise):
        return _from_lazy(value)
    if value is None:
        return Verbatim("")
    if isinstance(value, str):
        return Verbatim(value)
    if isinstance(value, Mapping):
        if isinstance(value.get("msgid"), str) and set(value) <= {"msgid", "params", "context"}:
            params = value.get("params") or {}
            return Sentence(
                value["msgid"],
                {name: _param_of_json(item) for name, item in dict(params).items()},
                context=str(value.get("context") or ""),
            )
        if isinstance(value.get("lines"), list) and set(value) <= {"lines", "sep"}:
            return Lines(*(text_of(part) for part in value["lines"]), sep=str(value.get("sep", "")))
        if isinstance(value.get("bytes"), int) and set(value) <= {"bytes", "limit"}:
            return Size(value["bytes"], limit=bool(value.get("limit")))
        if isinstance(value.get("at"), str) and set(value) == {"at"}:
            try:
                return Moment(datetime.fromisoformat(value["at"]))
            except ValueError:
                return Verbatim(value["at"])
    if isinstance(value, list):
        return Lines(*(text_of(part) for part in value))
    return Verbatim(json.dumps(value, ensure_ascii=False) if isinstance(value, Mapping) else value)


def _param_of_json(value: Any) -> Text | Param:
    if isinstance(value, Mapping):
        return text_of(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def text_load(stored: str | None) -> Text:
    """A text column's value as a Text: one of our JSON objects, else the text as it is."""
    if not stored:
        return Verbatim("")
    if stored[0] == "{" and stored[-1] == "}":
        try:
            data = json.loads(stored)
        except ValueError:
            return Verbatim(stored)
        if isinstance(data, dict):
            text = text_of(data)
            # A provider's own JSON answer stays as it came.
            if not isinstance(text, Verbatim):
                return text
    return Verbatim(stored)


def sentence(msgid: str) -> Sentence:
    """`_` of the modules whose sentences are stored and read later, by someone else:
    `_("Le serveur %(host)s ...") % {"host": host}` is a Sentence, translated when shown.
    (makemessages finds `_("...")` whatever `_` is bound to.)"""
    return Sentence(msgid)


def render_all(values: Iterable[Any]) -> list[str]:
    """Each of what was said, in the active language."""
    return [text_of(value).render() for value in values]


def said(message: str | Promise | Text, params: Mapping[str, Any] | None = None) -> Text:
    """A sentence of ours with its parameters: `message` is a French msgid (marked with
    `gettext_noop`), a lazy translation (its msgid and context are kept) or a Sentence."""
    text = (
        message
        if isinstance(message, Text)
        else _from_lazy(message)
        if isinstance(message, Promise)
        else Sentence(message)
    )
    if isinstance(text, Sentence) and params:
        return Sentence(text.msgid, {**text.params, **params}, context=text.context)
    return text


def render(value: Any) -> str:
    """What was said, in the active language (for templates, commands and logs)."""
    return text_of(value).render()


def texts_of(error: ValidationError) -> list[Text]:
    """The messages of a ValidationError as Texts, so that they can be stored and read later in
    another language: a message that is a Text or a lazy translation keeps its msgid (and its
    params); one that was translated already stays as it is."""
    texts: list[Text] = []
    for item in error.error_list:
        message, params = item.message, item.params
        if isinstance(message, Text):
            if params and isinstance(message, Sentence):
                message = Sentence(message.msgid, {**message.params, **params})
            texts.append(message)
        elif isinstance(message, Promise):
            text = _from_lazy(message)
            if isinstance(text, Sentence) and params:
                text = Sentence(text.msgid, params, context=text.context)
            texts.append(text)
        else:
            texts.append(Verbatim(str(message % params) if params else str(message)))
    return texts


def text_error(text: Text, *, code: str | None = None) -> ValidationError:
    """A ValidationError whose message is a Text: a form shows it in its reader's language,
    `texts_of` gets it back whole to be stored."""
    return ValidationError(cast(Any, text), code=code)


def texts_json(texts: Iterable[Any]) -> list[Any]:
    """Texts (or plain strings) as a JSON list, for a JSON column."""
    return [text_of(text).as_json() for text in texts]


class ServerTextField(models.TextField[Text | str, Text]):
    """A text column holding a `Text`: read as one (old plain rows as Verbatim), written from a
    Text or from plain text. No translation happens here, in either direction."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Text:
        return text_load(value)

    def to_python(self, value: Any) -> Text:
        if isinstance(value, str):
            return text_load(value)
        return text_of(value)

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, Promise):
            value = text_of(value)
        if isinstance(value, Text):
            return value.stored()
        return None if value is None else str(value)

    def value_to_string(self, obj: models.Model) -> str:
        value = self.value_from_object(obj)
        return value.stored() if isinstance(value, Text) else str(value or "")
