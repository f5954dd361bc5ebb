"""Translate the interface's gettext catalogues without a .po editor.

    python scripts/po_tool.py todo src/courrier/locale/nl/LC_MESSAGES/django.po > todo.txt
    (write the translations under each entry of todo.txt, see below)
    python scripts/po_tool.py apply todo.txt src/courrier/locale/nl/LC_MESSAGES/django.po

`todo` lists the entries without a translation or marked fuzzy, each as

    #12 3fa2c1 python-format
    msgid: Le modèle « %(name)s » est enregistré.
    msgstr:

Fill in `msgstr:` (for a plural entry, `msgstr[0]:` and `msgstr[1]:`), written as in a .po file
(\\n for a new line); or, to fill several catalogues from one list, one line per language
(`nl:`, `en:`, and `de:` for the words of mails, whose msgctxt is one of
`courrier.l10n.MAIL_CONTEXTS`; `nl[0]:`, `nl[1]:`), each catalogue taking the lines of its
language. `apply` writes them into the catalogue, checks that the placeholders (%(name)s,
%s, {CODE}) are the same as the source's, and drops the fuzzy mark. The number and hash tie each answer to its msgid: an entry that moved since `todo` is still found, one whose
msgid changed is refused, not misplaced.
Then compile with `django-admin compilemessages` (run from src/courrier) and commit .po and .mo.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

PLACEHOLDER = re.compile(r"%\([^)]+\)[a-z]|%[sd]|\{[A-Z][A-Z0-9_]*\}")


@dataclass
class Entry:
    """One block of a .po file; `lines` are kept as read, except the msgstr ones."""

    lines: list[str] = field(default_factory=list)

    def _strings(self, keyword: str) -> list[str] | None:
        """The escaped string of `keyword` (msgid, msgstr[0], ...), joined; None if absent."""
        found = None
        for line in self.lines:
            if line.startswith(keyword + " "):
                found = [line[len(keyword) + 1 :].strip()[1:-1]]
            elif found is not None and line.startswith('"'):
                found.append(line.strip()[1:-1])
            elif found is not None:
                break
        return found

    def get(self, keyword: str) -> str | None:
        parts = self._strings(keyword)
        return None if parts is None else "".join(parts)

    @property
    def msgctxt(self) -> str | None:
        return self.get("msgctxt")

    @property
    def msgid(self) -> str | None:
        return self.get("msgid")

    @property
    def plural(self) -> str | None:
        return self.get("msgid_plural")

    @property
    def flags(self) -> list[str]:
        flags: list[str] = []
        for line in self.lines:
            if line.startswith("#,"):
                flags += [flag.strip() for flag in line[2:].split(",")]
        return flags

    @property
    def obsolete(self) -> bool:
        return all(line.startswith("#~") or line.startswith("#") for line in self.lines)

    def msgstrs(self) -> list[str]:
        if self.plural is None:
            return [self.get("msgstr") or ""]
        values = []
        index = 0
        while (value := self.get(f"msgstr[{index}]")) is not None:
            values.append(value)
            index += 1
        return values

    @property
    def translated(self) -> bool:
        values = self.msgstrs()
        return bool(values) and all(values) and "fuzzy" not in self.flags

    def set_msgstrs(self, values: list[str]) -> None:
        kept = []
        skipping = False
        for line in self.lines:
            if line.startswith("msgstr"):
                skipping = True
                continue
            if skipping and line.startswith('"'):
                continue
            skipping = False
            if line.startswith("#,"):
                flags = [flag for flag in self.flags if flag != "fuzzy"]
                if not flags:
                    continue
                line = "#, " + ", ".join(flags)
            if line.startswith("#| "):  # the previous msgid of a fuzzy match
                continue
            kept.append(line)
        keywords = ["msgstr"] if self.plural is None else [f"msgstr[{i}]" for i in range(2)]
        for keyword, value in zip(keywords, values, strict=True):
            kept += _po_lines(keyword, value)
        self.lines = kept

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.msgctxt}\x04{self.msgid}".encode()).hexdigest()[:6]


def _po_lines(keyword: str, value: str) -> list[str]:
    if "\\n" not in value[:-2]:
        return [f'{keyword} "{value}"']
    pieces = re.findall(r".*?\\n|.+$", value)
    return [f'{keyword} ""'] + [f'"{piece}"' for piece in pieces if piece]


def read_po(path: Path) -> list[Entry]:
    entries: list[Entry] = []
    current = Entry()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if current.lines:
                entries.append(current)
                current = Entry()
            continue
        current.lines.append(line)
    if current.lines:
        entries.append(current)
    return entries


def write_po(path: Path, entries: list[Entry]) -> None:
    path.write_text("\n\n".join("\n".join(e.lines) for e in entries) + "\n", encoding="utf-8")


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def placeholder_problem(entry: Entry, values: list[str]) -> str:
    """Why these translations do not fit the entry's placeholders ("" when they do).

    A singular form may leave out the count ("un message" / "%(count)s messages"), so
    with a plural only the last form must keep every placeholder of msgid_plural."""
    source = entry.msgid or ""
    if entry.plural is None:
        if placeholders(values[0]) != placeholders(source):
            return "placeholders differ"
        return ""
    allowed = set(placeholders(source)) | set(placeholders(entry.plural))
    if any(not set(placeholders(value)) <= allowed for value in values):
        return "unknown placeholder"
    if set(placeholders(values[-1])) != set(placeholders(entry.plural)):
        return "the plural form lost a placeholder"
    return ""


def fix_header(entries: list[Entry], language: str) -> None:
    """The header is no longer fuzzy once translated, and names its language."""
    header = entries[0]
    if header.msgid != "":
        return
    header.lines = [line for line in header.lines if line != "#, fuzzy"]
    replaced = {
        '"Language:': f'"Language: {language}\\n"',
        '"Project-Id-Version:': '"Project-Id-Version: Courrier\\n"',
    }
    header.lines = [
        next((new for start, new in replaced.items() if line.startswith(start)), line)
        for line in header.lines
    ]


def _same_edges(source: str, value: str) -> str:
    """Answers are read stripped: give back the source's leading and trailing spaces."""
    if not value:
        return value
    lead = source[: len(source) - len(source.lstrip(" "))]
    trail = source[len(source.rstrip(" ")) :]
    return lead + value.strip(" ") + trail


def _escape_quotes(value: str) -> str:
    """Quotes typed bare in an answer become \\" as a .po file needs."""
    return re.sub(r'(?<!\\)"', r"\"", value)


def todo(path: Path, *, everything: bool = False) -> None:
    for number, entry in enumerate(read_po(path)):
        if not entry.msgid or entry.obsolete or (entry.translated and not everything):
            continue
        flags = " ".join(flag for flag in entry.flags if flag != "fuzzy")
        print(f"#{number} {entry.key} {flags}".rstrip())
        if entry.msgctxt is not None:
            print(f"msgctxt: {entry.msgctxt}")
        print(f"msgid: {entry.msgid}")
        if entry.plural is None:
            print(f"msgstr: {entry.msgstrs()[0] if everything else ''}")
        else:
            print(f"msgid_plural: {entry.plural}")
            print("msgstr[0]: \nmsgstr[1]: ")
        print()


def _find(
    entries: list[Entry], by_key: dict[str, list[Entry]], number: int, key: str
) -> Entry | None:
    """The entry an answer is for: by its msgid's hash (the catalogue may have moved since the
    list was made), by its number when two msgids share a hash."""
    found = by_key.get(key, [])
    if len(found) == 1:
        return found[0]
    if number < len(entries) and entries[number].key == key:
        return entries[number]
    return None


def apply(answers: Path, path: Path) -> int:
    entries = read_po(path)
    language = path.parent.parent.name  # locale/<language>/LC_MESSAGES/django.po
    by_key: dict[str, list[Entry]] = {}
    for each in entries:
        by_key.setdefault(each.key, []).append(each)
    problems = 0
    applied = 0
    for block in answers.read_text(encoding="utf-8").split("\n#")[0:]:
        block = block.strip().lstrip("#")
        if not block:
            continue
        head, *rest = block.splitlines()
        number_text, key = head.split()[:2]
        values: dict[str, str] = {}
        for line in rest:
            name, _sep, value = line.partition(": ")
            values[name.rstrip(":")] = value.strip()
        found = _find(entries, by_key, int(number_text), key)
        if found is None:
            print(f"#{number_text}: no longer in the catalogue; skipped", file=sys.stderr)
            problems += 1
            continue
        entry = found
        if entry.plural is None:
            new = [values.get(language) or values.get("msgstr", "")]
        else:
            new = [
                values.get(f"{language}[{i}]") or values.get(f"msgstr[{i}]", "") for i in range(2)
            ]
        new = [_same_edges(entry.msgid or "", _escape_quotes(value)) for value in new]
        if not all(new):
            continue
        problem = placeholder_problem(entry, new)
        if problem:
            print(f"#{number_text}: {problem}: {new!r}", file=sys.stderr)
            problems += 1
            continue
        entry.set_msgstrs(new)
        applied += 1
    fix_header(entries, language)
    write_po(path, entries)
    print(f"{path}: {applied} translations written, {problems} refused", file=sys.stderr)
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    todo_parser = sub.add_parser("todo")
    todo_parser.add_argument("po", type=Path)
    todo_parser.add_argument("--all", action="store_true", help="translated entries too")
    apply_parser = sub.add_parser("apply")
    apply_parser.add_argument("answers", type=Path)
    apply_parser.add_argument("po", type=Path)
    args = parser.parse_args()
    if args.command == "todo":
        todo(args.po, everything=args.all)
        return 0
    return apply(args.answers, args.po)


if __name__ == "__main__":
    sys.exit(main())
