"""One rule for the files people upload: a program is refused in a client's documents as in
the compose window, by its name, its bytes, or inside a ZIP (one ZIP deep too)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as Browser

from courrier.clients.models import Client
from courrier.documents.models import Document
from courrier.firm.models import Collaborator
from courrier.mailing.models import Upload
from courrier.mailing.services import upload_store

# The smallest header a Windows program starts with: "MZ", then at 0x3C the offset of "PE\0\0".
WINDOWS_PROGRAM = b"MZ" + b"\0" * 0x3A + (0x40).to_bytes(4, "little") + b"PE\0\0" + b"\0" * 64
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def zipped(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


ARCHIVES = {
    "an .exe by its name": zipped(**{"a.pdf": PDF, "outil/setup.exe": b"x"}),
    "a program renamed": zipped(**{"a.pdf": PDF, "facture.pdf": WINDOWS_PROGRAM}),
    "a ZIP in the ZIP": zipped(**{"a.pdf": PDF, "dedans.zip": zipped(**{"run.bat": b"x"})}),
}


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


@pytest.mark.parametrize("content", ARCHIVES.values(), ids=ARCHIVES.keys())
def test_a_zip_holding_a_program_is_refused_as_a_document(
    content: bytes,
    make_client: Callable[..., Client],
    collaborator: Collaborator,
) -> None:
    client = make_client()
    browser = Browser()
    browser.force_login(collaborator)
    response = browser.post(
        f"/documents/client/{client.pk}/",
        {
            "file": SimpleUploadedFile("pieces.zip", content, "application/zip"),
            "kind": "other",
            "title": "Pièces",
            "date": "2026-06-15",
            "sensitive": "auto",
        },
    )
    assert response.status_code == 400
    assert "L'archive « pieces.zip » contient un programme" in text(response)
    assert not Document.objects.exists()


@pytest.mark.parametrize("content", ARCHIVES.values(), ids=ARCHIVES.keys())
def test_the_same_zip_is_refused_in_the_compose_window(
    content: bytes, collaborator: Collaborator
) -> None:
    with pytest.raises(ValidationError, match="contient un programme"):
        upload_store(owner=collaborator, file=SimpleUploadedFile("pieces.zip", content))
    assert not Upload.objects.exists()


def test_a_zip_of_documents_is_kept_in_both(
    make_client: Callable[..., Client], collaborator: Collaborator
) -> None:
    content = zipped(**{"a.pdf": PDF, "b.xlsx": b"y", "c.zip": zipped(d=b"z")})
    upload = upload_store(
        owner=collaborator, file=SimpleUploadedFile("pieces.zip", content, "application/zip")
    )
    assert upload.content_type == "application/zip"
    client = make_client()
    browser = Browser()
    browser.force_login(collaborator)
    browser.post(
        f"/documents/client/{client.pk}/",
        {
            "file": SimpleUploadedFile("pieces.zip", content, "application/zip"),
            "kind": "other",
            "title": "Pièces",
            "date": "2026-06-15",
            "sensitive": "auto",
        },
    )
    assert Document.objects.get().title == "Pièces"
