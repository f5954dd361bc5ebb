"""The demo's documents: real PDFs in the files, a template for mails about them, once."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from pypdf import PdfReader

from courrier.documents.models import Document
from courrier.mailing.models import MailTemplate
from courrier.mailing.rendering import check_fields

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def test_demo_documents_once_and_readable() -> None:
    call_command("seed_demo", "--smtp-port=2600", verbosity=0)
    count = Document.objects.count()
    call_command("seed_demo", "--smtp-port=2600", verbosity=0)
    assert Document.objects.count() == count >= 20
    assert Document.objects.filter(sensitive=True).exists()
    assert Document.objects.filter(sensitive=False).exists()
    document = Document.objects.filter(kind=Document.Kind.TAX_ASSESSMENT).first()
    assert document is not None
    page_text = PdfReader(io.BytesIO(document.file.read())).pages[0].extract_text()
    assert "Avertissement-extrait de rôle" in page_text
    assert document.client.number in page_text
    template = MailTemplate.objects.get(context="document")
    assert sorted(template.versions.values_list("language", flat=True)) == ["de", "en", "fr", "nl"]
    for version in template.versions.all():
        check_fields(version.subject, context="document")
        check_fields(version.body, context="document")
