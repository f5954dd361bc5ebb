"""Where the Peppol validation artifacts are, what their MANIFEST says, and the code lists.

The project reads them from `settings.COURRIER["PEPPOL_ARTIFACTS"]` (the environment's
`COURRIER_PEPPOL_ARTIFACTS`), by default the copy installed with the package. Nothing here
fetches anything: the rule sets are the pinned releases of the copy, never the network's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from xml.etree import ElementTree

from django.conf import settings

PACKAGED = Path(__file__).resolve().parent / "artifacts"
MANIFEST = "MANIFEST.txt"
_CODE_LIST = "{urn:fdc:difi.no:2017:vefa:structure:CodeList-1}"


@dataclass(frozen=True)
class Artifact:
    """One line of the MANIFEST: a file, the start of its SHA-256, where it comes from."""

    path: str
    sha256: str
    repository: str
    path_in_repository: str
    commit: str
    licence: str


def artifacts_dir() -> Path:
    """The folder the artifacts are read from."""
    configured = str(settings.COURRIER.get("PEPPOL_ARTIFACTS") or "")
    return Path(configured) if configured else PACKAGED


def manifest(folder: Path | None = None) -> list[Artifact]:
    """The files the folder's MANIFEST lists, in its order."""
    text = ((folder or artifacts_dir()) / MANIFEST).read_text(encoding="utf-8")
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = [part.strip() for part in line.split("|")]
        entries.append(Artifact(*(parts + [""] * 6)[:6]))
    return entries


def differences(folder: Path | None = None) -> list[str]:
    """What in the folder differs from its MANIFEST: a file missing, or other bytes; files the
    MANIFEST does not list. Empty when the copy is exact."""
    folder = folder or artifacts_dir()
    found = []
    listed = set()
    for entry in manifest(folder):
        listed.add(entry.path)
        path = folder / entry.path
        if not path.is_file():
            found.append(f"{entry.path}: missing")
        elif not hashlib.sha256(path.read_bytes()).hexdigest().startswith(entry.sha256):
            found.append(f"{entry.path}: not the bytes the MANIFEST names ({entry.sha256})")
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name != MANIFEST and name not in listed:
            found.append(f"{name}: not in the MANIFEST")
    return found


@cache
def _code_list(folder: Path, name: str) -> dict[str, str]:
    path = folder / "peppol-bis-invoice-3-v3.0.19" / "codelist" / f"{name}.xml"
    root = ElementTree.parse(path).getroot()  # noqa: S314 (our own pinned copy, not input)
    return {
        (code.findtext(f"{_CODE_LIST}Id") or "").strip(): " ".join(
            (code.findtext(f"{_CODE_LIST}Name") or "").split()
        )
        for code in root.iter(f"{_CODE_LIST}Code")
    }


def eas_schemes() -> dict[str, str]:
    """The Electronic Address Schemes a participant's identifier may use (code -> name), from
    the official code list."""
    return _code_list(artifacts_dir(), "eas")


def vatex_codes() -> dict[str, str]:
    """The VAT exemption reason codes (VATEX) an e-invoice may give (code -> name), from the
    official code list."""
    return _code_list(artifacts_dir(), "VATEX")
