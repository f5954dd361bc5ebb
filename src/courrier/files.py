"""The one rule for files people upload, wherever they arrive (a document of a client file, a
file joined in the compose window): no programs. A program is known by its extension, by its
first bytes (a Windows program renamed "facture.pdf"), or inside a ZIP file, by the name or
the first bytes of any of its members, one level of ZIP inside a ZIP included.

The mail providers refuse such files (Gmail first among them, even zipped) and a client's
antivirus would too; a document is kept to be mailed one day, so the rule is the same for both.
Each place adds its own limits (sizes, the document types a client file holds).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import PurePath
from typing import IO

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Programs and scripts that Gmail and Microsoft 365 refuse to carry, even inside a ZIP file.
_BLOCKED = """
    ade adp apk appx appxbundle bat cab chm cmd com cpl diagcab diagcfg diagpack dll dmg ex ex_
    exe hta img ins iso isp jar jnlp js jse lib lnk mde msc msi msix msixbundle msp mst nsh pif
    ps1 scr sct shb sys vb vbe vbs vhd vxd wsc wsf wsh xll
"""
BLOCKED_EXTENSIONS = frozenset(_BLOCKED.split())
# Bytes read at the start of a file (and of each ZIP member) to know what it is.
HEAD_BYTES = 4096
# An archive with more members than this is not looked into member by member: their names
# are still all checked.
MAX_MEMBERS_READ = 2000
# A ZIP inside a ZIP is opened when it is no larger than this once unpacked.
MAX_INNER_ZIP_BYTES = 20 * 1024 * 1024


def extension_of(name: str) -> str:
    return PurePath(name.lower()).suffix.lstrip(".")


def is_windows_program(head: bytes) -> bool:
    """Whether the first bytes are those of a Windows program (MZ header pointing to PE)."""
    if len(head) < 0x40 or not head.startswith(b"MZ"):
        return False
    offset = int.from_bytes(head[0x3C:0x40], "little")
    return head[offset : offset + 4] == b"PE\0\0"


def _program_in_zip(source: IO[bytes], *, depth: int = 0) -> str | None:
    """The first member of a ZIP file that is a program, if any (an unreadable ZIP: None)."""
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
            for member in members:
                if extension_of(member.filename.rstrip("/")) in BLOCKED_EXTENSIONS:
                    return member.filename
            for member in members[:MAX_MEMBERS_READ]:
                if member.is_dir():
                    continue
                with archive.open(member) as opened:
                    head = opened.read(HEAD_BYTES)
                if is_windows_program(head):
                    return member.filename
                if (
                    depth == 0
                    and head.startswith(b"PK\x03\x04")
                    and member.file_size <= MAX_INNER_ZIP_BYTES
                ):
                    inner = _program_in_zip(io.BytesIO(archive.read(member)), depth=1)
                    if inner is not None:
                        return f"{member.filename}/{inner}"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError):
        return None
    except (ValueError, EOFError, RuntimeError):  # a damaged or encrypted member
        return None
    return None


def file_programs_check(*, name: str, head: bytes, file: IO[bytes]) -> None:
    """Raise ValidationError (a sentence naming the file) when the file `name`, whose first
    bytes are `head`, is a program or a ZIP holding one. `file` is read again for a ZIP and
    left at its start."""
    if extension_of(name) in BLOCKED_EXTENSIONS:
        raise ValidationError(
            _(
                "« %(name)s » est un programme (.%(extension)s) : les fournisseurs de "
                "messagerie refusent ces fichiers. Déposez-le ailleurs et envoyez un lien, ou "
                "compressez-le dans une archive protégée par mot de passe."
            ),
            code="upload_program",
            params={"name": name, "extension": extension_of(name)},
        )
    if is_windows_program(head):
        raise ValidationError(
            _(
                "« %(name)s » est en réalité un programme Windows : les fournisseurs de "
                "messagerie le refuseraient."
            ),
            code="upload_program",
            params={"name": name},
        )
    if head.startswith(b"PK\x03\x04"):
        file.seek(0)
        try:
            member = _program_in_zip(file)
        finally:
            file.seek(0)
        if member is not None:
            raise ValidationError(
                _(
                    "L'archive « %(name)s » contient un programme (%(member)s) : les "
                    "fournisseurs de messagerie la refuseraient."
                ),
                code="upload_program",
                params={"name": name, "member": _member_shown(member)},
            )


def _member_shown(member: str) -> str:
    """A member's name as shown in a sentence: its last part, printable, not too long."""
    last = re.split(r"[/\\]", member.rstrip("/"))[-1]
    shown = "".join(char for char in last if char.isprintable()).strip()
    return shown[-120:] or "?"
