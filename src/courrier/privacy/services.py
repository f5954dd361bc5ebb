"""Data protection: the retention purge, and a client's data exported or erased on request.

What the law makes the firm keep stays, whatever is asked: an issued invoice or credit note
(its row, lines, PDF and UBL, exactly as issued; Belgian tax law keeps them 10
years) is never deleted here, nor the mail or Peppol document that carried it. The invoice
register and the once-only keys of invoice sending rest on those messages: without them, an
invoice would read "not sent" and the next batch would send it again. On erasure such a
message keeps only what proves that the invoice left (its invoice, purpose, state, dates,
Message-ID): its bytes, recipients, subject and delivery reports go, and it leaves the client's
file. Tax filings stay too: they hold the figures filed with the administration, no names.

Every purge or erasure is recorded in the audit log (who, when, counts), never what it removed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import get_valid_filename

from courrier.audit import audit_record
from courrier.billing.fields import INVOICE_CONTEXT
from courrier.billing.models import Invoice
from courrier.clients.models import Client
from courrier.documents.models import Document
from courrier.firm.models import Collaborator, Firm
from courrier.mailing import services as outbox
from courrier.mailing.models import (
    DeliveryAttempt,
    DeliveryEvent,
    MessageContent,
    OutboundMessage,
    SecureLink,
)

logger = logging.getLogger(__name__)

Status = OutboundMessage.Status
# Messages that are done with: the archive. Those still on their way are never purged.
FINISHED = (Status.SENT, Status.FAILED, Status.CANCELLED)
CHUNK = 500
# What an erased client is called from then on (stored; the page says the rest in the
# reader's language).
ERASED_NAME = "Client effacé"


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def _delete_files(names: Iterable[str]) -> Callable[[], None]:
    """A deletion of stored files, to run once the rows are gone for good (on commit)."""
    kept = [name for name in names if name]

    def delete() -> None:
        for name in kept:
            try:
                default_storage.delete(name)
            except OSError:
                logger.warning("a stored file could not be deleted")

    return delete


def _invoice_mail() -> Q:
    return Q(context=INVOICE_CONTEXT)


# -- retention --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeReport:
    years: int
    before: datetime
    mails: int
    documents: int
    links: int
    invoice_mails_kept: int
    dry_run: bool

    def line(self) -> str:
        """The log line: counts and the cut-off, nothing about anyone."""
        verb = "would delete" if self.dry_run else "deleted"
        return (
            f"data purge{' (dry run)' if self.dry_run else ''}: retention {self.years} years, "
            f"before {self.before:%Y-%m-%d}: {verb} {self.mails} mails, {self.documents} "
            f"documents, {self.links} secure links; kept {self.invoice_mails_kept} invoice mails"
        )


def data_purge(*, now: datetime | None = None, dry_run: bool = False) -> PurgeReport:
    """Delete the archived mails (sent, failed or cancelled), the client files' documents and
    the secure links older than the firm's retention period, with their stored files; mails
    still on their way, invoices and the mails that carried them stay. `dry_run` counts only.
    Logs one line with the counts."""
    years = Firm.load().retention_years
    before = _years_before(now or timezone.now(), years)
    old_mails = OutboundMessage.objects.annotate(
        finished_at=Coalesce("sent_at", "created_at")
    ).filter(status__in=FINISHED, finished_at__lt=before)
    kept = old_mails.filter(_invoice_mail()).count()
    mails = old_mails.exclude(_invoice_mail())
    documents = Document.objects.filter(uploaded_at__lt=before)
    links = SecureLink.objects.filter(created_at__lt=before)
    if dry_run:
        report = PurgeReport(
            years, before, mails.count(), documents.count(), links.count(), kept, True
        )
        logger.info(report.line())
        return report
    mail_count = 0
    pks = list(mails.values_list("pk", flat=True))
    for start in range(0, len(pks), CHUNK):
        with transaction.atomic():
            OutboundMessage.objects.filter(pk__in=pks[start : start + CHUNK]).delete()
        mail_count += len(pks[start : start + CHUNK])
    with transaction.atomic():
        names = list(documents.values_list("file", flat=True))
        document_count = len(names)
        documents.delete()
        link_names = list(links.values_list("file", flat=True))
        link_count = len(link_names)
        links.delete()
        transaction.on_commit(_delete_files([*names, *link_names]))
    report = PurgeReport(years, before, mail_count, document_count, link_count, kept, False)
    logger.info(report.line())
    if mail_count or document_count or link_count:
        audit_record(
            action="data_purged",
            obj=Firm.load(),
            detail={"mails": mail_count, "documents": document_count, "links": link_count},
        )
    return report


# -- export -----------------------------------------------------------------------------------


@dataclass
class _Manifest:
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, archive: zipfile.ZipFile, path: str, content: bytes, **facts: Any) -> None:
        archive.writestr(path, content)
        self.rows.append(
            {"path": path, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
            | facts
        )


def _stored(name: str) -> bytes | None:
    try:
        with default_storage.open(name, "rb") as stored:
            return bytes(stored.read())
    except OSError:
        return None


def _client_record(client: Client) -> dict[str, Any]:
    return {
        "number": client.number,
        "kind": client.kind,
        "name": client.name,
        "legal_form": client.legal_form,
        "enterprise_number": client.enterprise_number,
        "vat_number": client.vat_number,
        "language": client.language,
        "contact_name": client.contact_name,
        "salutation": client.salutation,
        "street": client.street,
        "postal_code": client.postal_code,
        "city": client.city,
        "country": client.country,
        "phone": client.phone,
        "invoice_channel": client.invoice_channel,
        "peppol_id": client.peppol_id,
        "emails": [{"address": row.address, "purpose": row.purpose} for row in client.emails.all()],
        "created_at": client.created_at.isoformat() if client.created_at else None,
    }


def client_export(*, client: Client, by: Collaborator, out: IO[bytes]) -> int:
    """Write everything Courrier holds about `client` to `out` as one ZIP: client.json (its
    record), mails/*.eml (the stored bytes, exactly as they left), documents/, invoices/ (PDF
    and UBL as issued) and manifest.csv / manifest.json listing each file with its size and
    SHA-256. Returns how many files it holds (manifests and record apart)."""
    manifest = _Manifest()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "client.json", json.dumps(_client_record(client), ensure_ascii=False, indent=2)
        )
        messages = OutboundMessage.objects.filter(client=client).order_by("created_at", "pk")
        for message in messages.iterator():
            raw = outbox.message_bytes(message)
            when = timezone.localtime(message.sent_at or message.created_at)
            manifest.add(
                archive,
                f"mails/{when:%Y-%m-%d_%H%M}-{message.pk}.eml",
                raw,
                kind="mail",
                date=when.isoformat(),
                title=message.subject,
                status=message.status,
            )
        for document in Document.objects.filter(client=client).order_by("date", "pk"):
            content = _stored(document.file.name)
            if content is None:
                continue
            name = get_valid_filename(document.filename) or "document"
            manifest.add(
                archive,
                f"documents/{document.pk}-{name}",
                content,
                kind="document",
                date=document.date.isoformat(),
                title=document.title,
            )
        invoices = Invoice.objects.filter(client=client, status=Invoice.Status.ISSUED)
        for invoice in invoices.order_by("year", "number"):
            base = f"invoices/{invoice.year}-{invoice.number:04d}"
            files = ((invoice.pdf, "pdf", "invoice"), (invoice.ubl, "xml", "ubl"))
            for file, extension, kind in files:
                content = _stored(file.name) if file else None
                if content is not None:
                    manifest.add(
                        archive,
                        f"{base}.{extension}",
                        content,
                        kind=kind,
                        date=invoice.issue_date.isoformat(),
                        title=str(invoice),
                    )
        text = io.StringIO()
        columns = ["path", "kind", "date", "title", "status", "size", "sha256"]
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(manifest.rows)
        archive.writestr("manifest.csv", text.getvalue())
        archive.writestr("manifest.json", json.dumps(manifest.rows, ensure_ascii=False, indent=2))
    audit_record(
        action="client_exported", obj=client, actor=by, detail={"files": len(manifest.rows)}
    )
    return len(manifest.rows)


# -- erasure ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureReport:
    mails: int
    invoice_mails: int
    documents: int
    links: int
    addresses: int
    drafts: int
    invoices_kept: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def client_erase(*, client: Client, by: Collaborator) -> ErasureReport:
    """Erase the client's personal data: its mails, documents, secure links (with their
    files and openings), e-mail addresses, draft invoices, and its name, address and numbers
    (the row stays, named ERASED_NAME, under its firm number, inactive). Kept, as the law asks:
    its issued invoices and credit notes, and of the mails that carried them only what proves
    they were sent (see the module). The audit log records who did it, when, and the counts."""
    with transaction.atomic():
        client = Client.objects.select_for_update().get(pk=client.pk)
        messages = OutboundMessage.objects.filter(client=client)
        stubs = list(messages.filter(_invoice_mail()).values_list("pk", flat=True))
        DeliveryEvent.objects.filter(message_id__in=stubs).delete()
        DeliveryAttempt.objects.filter(message_id__in=stubs).delete()
        MessageContent.objects.filter(message_id__in=stubs).delete()
        OutboundMessage.objects.filter(pk__in=stubs).update(
            client=None,
            archived=False,
            subject="",
            to=[],
            envelope_recipients=[],
            cc=[],
            bcc=[],
            last_error="",
            delivery_detail="",
            size=0,
            updated_at=timezone.now(),
        )
        # Without bytes nor recipients, one that had not left never will.
        OutboundMessage.objects.filter(pk__in=stubs).exclude(status=Status.SENT).update(
            status=Status.CANCELLED, next_attempt_at=None
        )
        links = SecureLink.objects.filter(client=client)
        link_names = list(links.values_list("file", flat=True))
        links.delete()
        mails = messages.exclude(pk__in=stubs)
        mail_count = mails.count()
        mails.delete()
        documents = Document.objects.filter(client=client)
        names = list(documents.values_list("file", flat=True))
        documents.delete()
        drafts = Invoice.objects.filter(client=client, status=Invoice.Status.DRAFT)
        draft_count = drafts.count()
        drafts.delete()
        addresses = client.emails.count()
        client.emails.all().delete()
        client.tags.clear()
        for name in (
            "legal_form",
            "enterprise_number",
            "vat_number",
            "contact_name",
            "salutation",
            "street",
            "postal_code",
            "city",
            "phone",
            "peppol_id",
        ):
            setattr(client, name, "")
        client.name = ERASED_NAME
        client.peppol_registered = None
        client.peppol_document_types = []
        client.peppol_checked_at = None
        client.peppol_courtesy_copy = False
        client.active = False
        client.save()
        report = ErasureReport(
            mails=mail_count,
            invoice_mails=len(stubs),
            documents=len(names),
            links=len(link_names),
            addresses=addresses,
            drafts=draft_count,
            invoices_kept=Invoice.objects.filter(client=client).count(),
        )
        audit_record(action="client_erased", obj=client, actor=by, detail=report.as_dict())
        transaction.on_commit(_delete_files([*names, *link_names]))
    logger.info("client %s erased by collaborator %s", client.pk, by.pk)
    return report


def client_erasure(client: Client) -> Any:
    """The audit entry of the client's erasure, or None when it was never erased."""
    from auditlog.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    return (
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Client),
            object_id=client.pk,
            additional_data__action="client_erased",
        )
        .select_related("actor")
        .order_by("-timestamp")
        .first()
    )
