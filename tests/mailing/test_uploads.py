"""Files joined in the compose window: what is kept, what is refused, and why."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from courrier.firm.models import Collaborator
from courrier.mailing.services import upload_store
from courrier.mailing.services.uploads import clean_filename

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def store(owner: Collaborator, name: str, content: bytes = PDF, content_type: str = "") -> Any:
    return upload_store(
        owner=owner, file=SimpleUploadedFile(name, content, content_type=content_type)
    )


def test_a_file_is_stored_under_uploads_with_its_fingerprint(
    collaborator: Collaborator, media: Path
) -> None:
    upload = store(
        collaborator, "Bilan 2026 — Société Éléphant.pdf", content_type="application/pdf"
    )

    path = Path(upload.file.path)
    assert path.is_relative_to(media / "uploads")
    assert path.read_bytes() == PDF
    assert (upload.name, upload.size, upload.owner) == (
        "Bilan 2026 — Société Éléphant.pdf",
        len(PDF),
        collaborator,
    )
    assert upload.sha256 == hashlib.sha256(PDF).hexdigest()
    assert upload.content_type == "application/pdf"
    # On disk, a name of ours: nothing the sender typed reaches the file system.
    assert path.suffix == ".pdf" and "Bilan" not in path.name


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("C:\\Users\\anne\\Documents\\Déclaration été.pdf", "Déclaration été.pdf"),
        ("../../etc/passwd", "passwd"),
        ("Cafe\u0301 cre\u0300me.txt", "Café crème.txt"),  # decomposed accents made whole
        ("relevé\r\nBcc: x@evil.test.csv", "relevé Bcc: x@evil.test.csv"),
        ("bilan\x00\x07 final.pdf", "bilan final.pdf"),
        ("  notes   de   frais .xlsx  ", "notes de frais .xlsx"),
        ("", "fichier"),
        ("...", "fichier"),
        ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
    ],
)
def test_names_lose_folders_and_control_characters_but_keep_accents(given: str, kept: str) -> None:
    assert clean_filename(given) == kept


def test_a_direction_trick_cannot_disguise_a_program(collaborator: Collaborator) -> None:
    # Shown by some programs as "facture_exe.pdf"; it is an .exe.
    with pytest.raises(ValidationError) as caught:
        store(collaborator, "facture_\u202efdp.exe")

    assert caught.value.messages[0].startswith("« facture_fdp.exe » est un programme (.exe)")


@pytest.mark.parametrize(
    "name", ["setup.exe", "run.bat", "go.cmd", "x.js", "y.vbs", "s.scr", "c.com", "i.msi"]
)
def test_programs_are_refused_as_providers_do(collaborator: Collaborator, name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        store(collaborator, name.upper() + ".")

    extension = name.rsplit(".", 1)[1]
    assert caught.value.messages == [
        f"« {name.upper()} » est un programme (.{extension}) : les fournisseurs de messagerie "
        "refusent ces fichiers. Déposez-le ailleurs et envoyez un lien, ou compressez-le dans "
        "une archive protégée par mot de passe."
    ]


def test_a_windows_program_renamed_as_a_document_is_refused(collaborator: Collaborator) -> None:
    program = bytearray(b"MZ" + b"\0" * 200)
    program[0x3C:0x40] = (0x80).to_bytes(4, "little")
    program[0x80:0x84] = b"PE\0\0"

    with pytest.raises(ValidationError) as caught:
        store(collaborator, "facture.pdf", bytes(program))

    assert caught.value.messages == [
        "« facture.pdf » est en réalité un programme Windows : les fournisseurs de messagerie "
        "le refuseraient."
    ]


def zipped(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_an_archive_holding_a_program_is_refused(collaborator: Collaborator) -> None:
    with pytest.raises(ValidationError) as caught:
        store(collaborator, "pieces.zip", zipped(**{"a.pdf": PDF, "outil/setup.exe": b"x"}))
    kept = store(collaborator, "pieces.zip", zipped(**{"a.pdf": PDF, "b.xlsx": b"y"}))

    assert caught.value.messages == [
        "L'archive « pieces.zip » contient un programme (setup.exe) : les fournisseurs de "
        "messagerie la refuseraient."
    ]
    assert kept.content_type == "application/zip"


def test_a_file_too_large_for_a_message_is_refused(
    collaborator: Collaborator, settings: Any
) -> None:
    settings.COURRIER = {**settings.COURRIER, "MAX_MESSAGE_BYTES": 5_000}

    with pytest.raises(ValidationError) as caught:
        store(collaborator, "bilan.pdf")

    assert caught.value.messages == [
        "« bilan.pdf » pèse 11 Ko : un message accepte au plus 5 Ko de pièces jointes."
    ]


def test_an_empty_file_is_refused(collaborator: Collaborator) -> None:
    with pytest.raises(ValidationError) as caught:
        store(collaborator, "vide.txt", b"")

    assert caught.value.messages == ["« vide.txt » est vide : rien à joindre."]


@pytest.mark.parametrize(
    ("name", "declared", "expected"),
    [
        ("bilan.pdf", "application/pdf", "application/pdf"),
        ("bilan.pdf", "", "application/pdf"),
        ("bilan.pdf", "application/octet-stream", "application/pdf"),
        (
            "tableau.xlsx",
            "n'importe quoi",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("notes.txt", "text/plain; charset=utf-8", "text/plain"),
        ("sans-extension", "", "application/octet-stream"),
    ],
)
def test_the_type_is_the_browsers_when_sensible_else_guessed_from_the_name(
    collaborator: Collaborator, name: str, declared: str, expected: str
) -> None:
    assert store(collaborator, name, b"contenu", declared).content_type == expected
