"""Files joined in the compose window: checked, fingerprinted, stored under MEDIA_ROOT/uploads/.

A file is refused with a sentence that says why: too large for a message, empty, or a program
(mail providers refuse those, Gmail first among them, and a client's antivirus would too). The
name keeps its accents and loses what could mislead or break a header: folders, control and
direction characters. The stored file gets a name of ours; its SHA-256 lets compose check that
the bytes sent are the bytes received.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
import unicodedata
import uuid
import zipfile
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from courrier.firm.models import Collaborator
from courrier.mailing.models import Upload
from courrier.sizes import file_size

logger = logging.getLogger("courrier.mailing")

# Programs and scripts that Gmail and Microsoft 365 refuse to carry, even inside a ZIP file.
_BLOCKED = """
    ade adp apk appx appxbundle bat cab chm cmd com cpl diagcab diagcfg diagpack dll dmg ex ex_
    exe hta img ins iso isp jar jnlp js jse lib lnk mde msc msi msix msixbundle msp mst nsh pif
    ps1 scr sct shb sys vb vbe vbs vhd vxd wsc wsf wsh xll
"""
BLOCKED_EXTENSIONS = frozenset(_BLOCKED.split())
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
# Unicode categories that have no place in a file name: control, format (among them the
# right-to-left override that shows "facture‮fdp.exe" as "facture exe.pdf"), surrogates,
# private use, line and paragraph separators.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
MAX_NAME_LENGTH = 200
DEFAULT_NAME = "fichier"


def clean_filename(name: str) -> str:
    """The name a file is shown and attached with: its last path component, NFC, without
    control or direction characters, spaces collapsed, accents kept, at most 200 characters
    (the extension kept)."""
    name = re.split(r"[/\\]", name or "")[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(
        " " if unicodedata.category(char) in ("Zl", "Zp") or char in "\t\r\n" else char
        for char in name
        if unicodedata.category(char) not in _DROPPED_CATEGORIES or char in "\t\r\n"
    )
    # Windows drops trailing dots and spaces: "facture.exe." would open as an .exe.
    name = " ".join(name.split()).strip(" .")
    if not name or name in (".", ".."):
        return DEFAULT_NAME
    if len(name) > MAX_NAME_LENGTH:
        suffix = PurePath(name).suffix[:20]
        name = name[: MAX_NAME_LENGTH - len(suffix)].rstrip(" .") + suffix
    return name


def _extension(name: str) -> str:
    return PurePath(name.lower()).suffix.lstrip(".")


def _refused_program(name: str) -> ValidationError:
    return ValidationError(
        _(
            "« %(name)s » est un programme (.%(extension)s) : les fournisseurs de messagerie "
            "refusent ces fichiers. Déposez-le ailleurs et envoyez un lien, ou compressez-le "
            "dans une archive protégée par mot de passe."
        ),
        code="upload_program",
        params={"name": name, "extension": _extension(name)},
    )


def _is_windows_program(head: bytes) -> bool:
    """Whether the first bytes are those of a Windows program (MZ header pointing to PE)."""
    if len(head) < 0x40 or not head.startswith(b"MZ"):
        return False
    offset = int.from_bytes(head[0x3C:0x40], "little")
    return head[offset : offset + 4] == b"PE\0\0"


def _zip_program(file: UploadedFile) -> str | None:
    """The first member of a ZIP file that is a program, if any (an unreadable ZIP: None)."""
    try:
        file.seek(0)
        with zipfile.ZipFile(file) as archive:
            for member in archive.namelist():
                if _extension(member.rstrip("/")) in BLOCKED_EXTENSIONS:
                    return member
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    finally:
        file.seek(0)
    return None


def _content_type(declared: str | None, name: str) -> str:
    """The browser's type when it is a sensible one, else the one the name suggests."""
    value = (declared or "").split(";")[0].strip().lower()
    if _CONTENT_TYPE.match(value) and value != "application/octet-stream":
        return value
    guessed = mimetypes.guess_type(name, strict=False)[0]
    return guessed or "application/octet-stream"


def upload_store(*, owner: Collaborator, file: UploadedFile) -> Upload:
    """Check a file joined in the compose window and store it for `owner` (only they can join
    it to a mail). Raises ValidationError with a sentence naming the file: too large for a
    message (COURRIER["MAX_MESSAGE_BYTES"]), empty, or a program."""
    name = clean_filename(str(file.name or ""))
    limit = int(settings.COURRIER["MAX_MESSAGE_BYTES"])
    too_large = ValidationError(
        _("« %(name)s » pèse %(size)s : un message accepte au plus %(limit)s de pièces jointes."),
        code="upload_size",
        params={
            "name": name,
            "size": file_size(int(file.size or 0)),
            "limit": file_size(limit, limit=True),
        },
    )
    if file.size is not None and file.size > limit:
        raise too_large
    if _extension(name) in BLOCKED_EXTENSIONS:
        raise _refused_program(name)

    digest = hashlib.sha256()
    size = 0
    head = b""
    file.seek(0)
    for chunk in file.chunks():
        if len(head) < 4096:
            head += chunk[: 4096 - len(head)]
        size += len(chunk)
        if size > limit:
            raise too_large
        digest.update(chunk)
    if size == 0:
        raise ValidationError(
            _("« %(name)s » est vide : rien à joindre."),
            code="upload_empty",
            params={"name": name},
        )
    if _is_windows_program(head):
        raise ValidationError(
            _(
                "« %(name)s » est en réalité un programme Windows : les fournisseurs de "
                "messagerie le refuseraient."
            ),
            code="upload_program",
            params={"name": name},
        )
    if head.startswith(b"PK\x03\x04"):
        member = _zip_program(file)
        if member is not None:
            raise ValidationError(
                _(
                    "L'archive « %(name)s » contient un programme (%(member)s) : les "
                    "fournisseurs de messagerie la refuseraient."
                ),
                code="upload_program",
                params={"name": name, "member": clean_filename(member)},
            )

    upload = Upload(
        owner=owner,
        name=name,
        content_type=_content_type(file.content_type, name),
        size=size,
        sha256=digest.hexdigest(),
    )
    extension = _extension(name)
    # A name of ours on disk; the extension only when it is a plain one.
    stored_name = uuid.uuid4().hex
    if re.fullmatch(r"[a-z0-9]{1,10}", extension):
        stored_name += f".{extension}"
    file.seek(0)
    upload.file.save(stored_name, file, save=False)
    try:
        upload.save()
    except Exception:
        upload.file.delete(save=False)
        raise
    logger.info("upload %s stored for %s (%d bytes)", upload.pk, owner.pk, size)
    return upload
