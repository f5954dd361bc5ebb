"""Files joined in the compose window: checked, fingerprinted, stored under MEDIA_ROOT/uploads/.

A file is refused with a sentence that says why: too large for a message, empty, or a program
(the rule of `courrier.files`, the same as for documents). The
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
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from courrier.files import extension_of, file_programs_check
from courrier.firm.models import Collaborator
from courrier.mailing.models import Upload
from courrier.sizes import file_size

logger = logging.getLogger("courrier.mailing")

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
    return extension_of(name)


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
    # A program's name is refused before its bytes are read.
    file_programs_check(name=name, head=b"", file=file)

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
    file_programs_check(name=name, head=head, file=file)

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
