"""Documents of a client file: stored once with their fingerprint, deleted by the right people.

A document is checked when it arrives: a known office type (PDF, images, office files, text,
XML, ZIP), not empty, not over `MAX_DOCUMENT_BYTES`, a PDF must really be one, and no program,
not even inside a ZIP (`courrier.files`, the rule of the compose window's files too). Its type is
the one its extension says, not the browser's. The stored file gets a name of ours; the name
the person gave is kept apart, cleaned like the files of the compose window.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
import uuid
from datetime import date
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from courrier.documents.models import Document
from courrier.files import HEAD_BYTES, file_programs_check
from courrier.firm.permissions import is_firm_admin
from courrier.mailing.services import clean_filename
from courrier.sizes import file_size

if TYPE_CHECKING:
    from courrier.clients.models import Client
    from courrier.firm.models import Collaborator

logger = logging.getLogger(__name__)

DEFAULT_MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
# What a client file holds: documents, scans and office files; never programs.
ACCEPTED_EXTENSIONS = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "heic": "image/heic",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "rtf": "application/rtf",
    "txt": "text/plain",
    "csv": "text/csv",
    "xml": "application/xml",
    "zip": "application/zip",
    "eml": "message/rfc822",
    "msg": "application/vnd.ms-outlook",
}


def max_document_bytes() -> int:
    return int(
        getattr(settings, "COURRIER", {}).get("MAX_DOCUMENT_BYTES", DEFAULT_MAX_DOCUMENT_BYTES)
    )


def _extension(name: str) -> str:
    return PurePath(name.lower()).suffix.lstrip(".")


def document_file_check(file: UploadedFile) -> tuple[str, str, int, str]:
    """The cleaned name, type, size and SHA-256 of an uploaded document; raises
    ValidationError with a sentence naming the file when it cannot be kept."""
    name = clean_filename(str(file.name or ""))
    extension = _extension(name)
    if extension not in ACCEPTED_EXTENSIONS:
        raise ValidationError(
            _("« %(name)s » n'est pas d'un type accepté. Types acceptés : %(types)s."),
            code="document_type",
            params={"name": name, "types": ", ".join(sorted(set(ACCEPTED_EXTENSIONS)))},
        )
    limit = max_document_bytes()
    too_large = ValidationError(
        _("« %(name)s » pèse %(size)s : un document ne peut dépasser %(limit)s."),
        code="document_size",
        params={
            "name": name,
            "size": file_size(int(file.size or 0)),
            "limit": file_size(limit, limit=True),
        },
    )
    if file.size is not None and file.size > limit:
        raise too_large
    digest = hashlib.sha256()
    size = 0
    head = b""
    file.seek(0)
    for chunk in file.chunks():
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        size += len(chunk)
        if size > limit:
            raise too_large
        digest.update(chunk)
    file.seek(0)
    if size == 0:
        raise ValidationError(
            _("« %(name)s » est vide."), code="document_empty", params={"name": name}
        )
    if extension == "pdf" and b"%PDF-" not in head:
        raise ValidationError(
            _("« %(name)s » porte l'extension .pdf mais n'est pas un PDF."),
            code="document_not_pdf",
            params={"name": name},
        )
    if head.startswith(b"MZ"):
        raise ValidationError(
            _("« %(name)s » est en réalité un programme : il ne peut être déposé."),
            code="document_program",
            params={"name": name},
        )
    file_programs_check(name=name, head=head, file=file)
    content_type = ACCEPTED_EXTENSIONS.get(extension) or (
        mimetypes.guess_type(name)[0] or "application/octet-stream"
    )
    return name, content_type, size, digest.hexdigest()


def document_store(
    *,
    client: Client,
    file: UploadedFile,
    kind: str,
    title: str,
    date: date,
    by: Collaborator,
    sensitive: bool | None = None,
) -> Document:
    """Check and keep a document in `client`'s file. `sensitive` unset: IPP returns and tax
    assessments are, the other kinds are not. Raises ValidationError (see
    `document_file_check`)."""
    name, content_type, size, sha256 = document_file_check(file)
    if kind not in Document.Kind.values:
        raise ValidationError(_("Type de document inconnu."), code="document_kind")
    title = " ".join((title or "").split()) or PurePath(name).stem
    document = Document(
        client=client,
        kind=kind,
        title=title[:200],
        date=date,
        filename=name,
        content_type=content_type,
        size=size,
        sha256=sha256,
        sensitive=kind in Document.SENSITIVE_KINDS if sensitive is None else sensitive,
        uploaded_by=by,
    )
    stored_name = uuid.uuid4().hex
    extension = _extension(name)
    if re.fullmatch(r"[a-z0-9]{1,10}", extension):
        stored_name += f".{extension}"
    document.file.save(stored_name, file, save=False)
    try:
        document.save()
    except Exception:
        document.file.delete(save=False)
        raise
    logger.info("document %s stored for client %s (%d bytes)", document.pk, client.pk, size)
    return document


def document_may_delete(user: Any, document: Document) -> bool:
    """Administrators and the person who uploaded it may delete a document."""
    return is_firm_admin(user) or (
        document.uploaded_by_id is not None and document.uploaded_by_id == user.pk
    )


def document_delete(*, document: Document, by: Collaborator) -> None:
    """Remove a document and its file; PermissionDenied unless `document_may_delete`. The
    mails already sent keep their copy (the archived bytes and any secure link's copy)."""
    if not document_may_delete(by, document):
        raise PermissionDenied(
            _(
                "Seuls les administrateurs et la personne qui l'a déposé peuvent supprimer ce "
                "document."
            )
        )
    file = document.file
    pk = document.pk
    with transaction.atomic():
        document.delete()
        transaction.on_commit(lambda: file.delete(save=False))
    logger.info("document %s deleted by %s", pk, by.pk)


def document_content(document: Document) -> bytes:
    """The stored bytes (OSError when the file is missing)."""
    with document.file.open("rb") as stored:
        return bytes(stored.read())
