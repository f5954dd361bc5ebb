"""The "document" mail context: a mail about one document of a client file, the document
attached automatically (read from storage and checked against its fingerprint)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

from courrier.documents import fields
from courrier.documents.models import Document
from courrier.documents.services import document_content
from courrier.mailing.contexts import MailContext, StoredFile

if TYPE_CHECKING:
    from courrier.firm.models import Collaborator

DOCUMENT = "document"


class DocumentFile(StoredFile):
    """A document joined to a mail; `sensitive` asks the window to send it by secure link."""

    def __init__(self, document: Document) -> None:
        super().__init__(
            name=document.filename,
            content_type=document.content_type,
            size=document.size,
            read=lambda: document_content(document),
            sha256=document.sha256,
        )
        self.sensitive = document.sensitive
        self.document_pk = document.pk


def document_label(document: Document) -> str:
    return _("Document « %(title)s »") % {"title": document.title}


def document_context(document: Document) -> MailContext:
    context = MailContext(
        name=DOCUMENT,
        client=document.client,
        values=lambda language: fields.document_values(document, language),
        object_id=document.pk,
        label=document_label(document),
        attachments=(DocumentFile(document),),
    )
    # Read by the compose window to tick "send by secure link" beforehand.
    context.sensitive = document.sensitive  # type: ignore[attr-defined]
    return context


def document_contexts(ids: Sequence[int], user: Collaborator | None) -> list[MailContext]:
    """The contexts of documents `ids`, in that order; unknown ids are left out (every
    collaborator sees every client file)."""
    rows = {
        row.pk: row
        for row in Document.objects.select_related(
            "client", "client__billing_company", "client__responsible"
        )
        .prefetch_related("client__emails")
        .filter(pk__in=list(ids))
    }
    seen: set[int] = set()
    contexts: list[MailContext] = []
    for pk in ids:
        if pk in rows and pk not in seen:
            seen.add(pk)
            contexts.append(document_context(rows[pk]))
    return contexts
