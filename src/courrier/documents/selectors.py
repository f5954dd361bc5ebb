"""Reads of the Documents tab: a client's documents with their last mail, and their links."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import OuterRef, QuerySet, Subquery

from courrier.documents.contexts import DOCUMENT
from courrier.documents.models import Document
from courrier.mailing.models import OutboundMessage

if TYPE_CHECKING:
    from courrier.clients.models import Client


def client_documents(*, client: Client) -> QuerySet[Document]:
    """The client's documents, newest first, each with `last_mail_id`, `last_mail_status` and
    `last_mail_at` (the latest mail about it, queued or sent) when there is one."""
    latest = OutboundMessage.objects.filter(
        context=DOCUMENT, object_id=OuterRef("pk"), client=OuterRef("client")
    ).order_by("-created_at", "-id")
    return (
        Document.objects.filter(client=client)
        .select_related("uploaded_by")
        .annotate(
            last_mail_id=Subquery(latest.values("pk")[:1]),
            last_mail_status=Subquery(latest.values("status")[:1]),
            last_mail_at=Subquery(latest.values("created_at")[:1]),
        )
    )


def document_get(*, pk: int) -> Document | None:
    return Document.objects.select_related("client", "uploaded_by").filter(pk=pk).first()
