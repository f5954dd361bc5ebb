"""Demo documents in the client files, and a firm template for mails about a document.

The files are small one-page PDFs made here, the same bytes on every run: a second run finds
every document by its client and title and changes nothing.
"""

from __future__ import annotations

from datetime import date

from django.core.files.uploadedfile import SimpleUploadedFile

from courrier.clients.models import Client
from courrier.documents.models import Document
from courrier.documents.services import document_store
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.models import MailTemplate
from courrier.mailing.services import template_ensure

TEMPLATE_NAME = "Envoi d'un document"
# {MODEENVOI} says how the document goes: "en pièce jointe" when attached, "par le lien
# sécurisé ci-dessous" when sent by link (sensitive documents, by default).
TEMPLATE: dict[str, tuple[str, str]] = {
    "fr": (
        "{TITREDOC}",
        "{FORMULE},\n\nNous vous transmettons votre {TYPEDOCUMENT} « {TITREDOC} » du "
        "{DATEDOCLONGUE} {MODEENVOI}.\n\nNous restons à votre disposition pour toute "
        "question.\n\n{EXPEDITEUR}\n{CABINET}",
    ),
    "nl": (
        "{TITREDOC}",
        "{FORMULE},\n\nWij bezorgen u uw {TYPEDOCUMENT} „{TITREDOC}” van {DATEDOCLONGUE} "
        "{MODEENVOI}.\n\nWij blijven tot uw beschikking voor verdere vragen.\n\n"
        "{EXPEDITEUR}\n{CABINET}",
    ),
    "de": (
        "{TITREDOC}",
        "{FORMULE},\n\nwir übermitteln Ihnen Ihr Dokument „{TITREDOC}“ ({TYPEDOCUMENT}) vom "
        "{DATEDOCLONGUE} {MODEENVOI}.\n\nFür Fragen stehen wir Ihnen gerne zur Verfügung."
        "\n\n{EXPEDITEUR}\n{CABINET}",
    ),
    "en": (
        "{TITREDOC}",
        "{FORMULE},\n\nWe are sending you your {TYPEDOCUMENT} “{TITREDOC}” of "
        "{DATEDOCLONGUE} {MODEENVOI}.\n\nDo not hesitate to contact us with any question."
        "\n\n{EXPEDITEUR}\n{CABINET}",
    ),
}

# Per client kind: (kind, title, file name, date). Persons get their IPP papers (sensitive),
# companies their accounts and a contract.
_PERSON = [
    (Document.Kind.IPP_RETURN, "Déclaration IPP revenus 2025", "IPP-2025.pdf", date(2026, 6, 20)),
    (
        Document.Kind.TAX_ASSESSMENT,
        "Avertissement-extrait de rôle exercice 2025",
        "AER-2025.pdf",
        date(2026, 3, 12),
    ),
]
_COMPANY = [
    (
        Document.Kind.ANNUAL_ACCOUNTS,
        "Comptes annuels au 31/12/2025",
        "Comptes-annuels-2025.pdf",
        date(2026, 6, 28),
    ),
    (Document.Kind.CONTRACT, "Lettre de mission", "Lettre-de-mission.pdf", date(2025, 1, 15)),
    (Document.Kind.LETTER, "Courrier du SPF Finances", "Courrier-SPF.pdf", date(2026, 9, 3)),
]


def _pdf_text(value: str) -> bytes:
    escaped = value.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return escaped.encode("cp1252", errors="replace")


def demo_pdf(lines: list[str]) -> bytes:
    """A one-page A4 PDF showing `lines` in Helvetica (WinAnsi: accents and € print)."""
    stream = (
        b"BT /F1 14 Tf 72 770 Td 18 TL\n"
        + b"".join(b"(" + _pdf_text(line) + b") Tj T*\n" for line in lines)
        + b"ET"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _seed_template() -> None:
    template_ensure(
        name=TEMPLATE_NAME,
        context=MailTemplate.Context.DOCUMENT,
        versions=TEMPLATE,
        overwrite=True,
    )


def seed_documents(
    *,
    collaborators: dict[str, Collaborator],
    companies: dict[str, BillingCompany],
    clients: list[Client],
) -> int:
    """Create the demo rows (idempotent); returns how many exist."""
    _seed_template()
    uploader = next(iter(collaborators.values()), None)
    if uploader is None:
        return Document.objects.count()
    for client in clients[:16]:
        rows = _PERSON if client.kind == Client.Kind.PERSON else _COMPANY
        for kind, title, filename, day in rows:
            if Document.objects.filter(client=client, title=title).exists():
                continue
            content = demo_pdf([title, client.display_name, f"{client.number} - {day:%d/%m/%Y}"])
            document_store(
                client=client,
                file=SimpleUploadedFile(filename, content, content_type="application/pdf"),
                kind=kind,
                title=title,
                date=day,
                by=client.responsible or uploader,
            )
    return Document.objects.count()
