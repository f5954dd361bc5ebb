"""The Peppol validation artifacts the project carries are the official ones, unedited: each
file has the bytes its MANIFEST names, and the script that brings them refuses anything else."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from courrier.peppol import artifacts

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "peppol_artifacts.py"


def test_the_packaged_copy_is_exactly_what_its_manifest_lists() -> None:
    listed = artifacts.manifest(artifacts.PACKAGED)
    assert len(listed) >= 45
    # The three layers and the schemas of the current release are there, each with its source.
    paths = {entry.path for entry in listed}
    assert {
        "ubl-2.1/xsd/maindoc/UBL-Invoice-2.1.xsd",
        "ubl-2.1/xsd/maindoc/UBL-CreditNote-2.1.xsd",
        "openpeppol-2026.5/xslt/CEN-EN16931-UBL.xslt",
        "openpeppol-2026.5/xslt/PEPPOL-EN16931-UBL.xslt",
        "peppol-bis-invoice-3-v3.0.19/codelist/eas.xml",
    } <= paths
    assert all(entry.repository.startswith("github.com/") and entry.commit for entry in listed)
    assert artifacts.differences(artifacts.PACKAGED) == []


def test_a_changed_byte_or_a_stray_file_is_found(tmp_path: Path) -> None:
    copy = tmp_path / "artifacts"
    shutil.copytree(artifacts.PACKAGED, copy)
    eas = copy / "peppol-bis-invoice-3-v3.0.19" / "codelist" / "eas.xml"
    eas.write_bytes(eas.read_bytes().replace(b"0208", b"0209", 1))
    (copy / "extra.xml").write_text("<x/>", encoding="utf-8")

    assert artifacts.differences(copy) == [
        "peppol-bis-invoice-3-v3.0.19/codelist/eas.xml: not the bytes the MANIFEST names "
        "(04367810d7b8226b)",
        "extra.xml: not in the MANIFEST",
    ]


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_the_script_copies_an_exact_release_and_removes_what_it_does_not_list(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "dest"
    (dest / "old-release").mkdir(parents=True)
    (dest / "old-release" / "gone.xslt").write_text("old", encoding="utf-8")

    done = run_script(str(artifacts.PACKAGED), "--dest", str(dest))

    assert done.returncode == 0, done.stderr
    assert artifacts.differences(dest) == []
    assert not (dest / "old-release").exists()
    assert (dest / "MANIFEST.txt").read_bytes() == (
        artifacts.PACKAGED / "MANIFEST.txt"
    ).read_bytes()


def test_the_script_copies_nothing_from_a_source_that_differs(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(artifacts.PACKAGED, source)
    xsd = source / "ubl-2.1" / "xsd" / "maindoc" / "UBL-Invoice-2.1.xsd"
    xsd.write_bytes(xsd.read_bytes() + b"\n")
    dest = tmp_path / "dest"

    refused = run_script(str(source), "--dest", str(dest))

    assert refused.returncode != 0
    assert "nothing copied" in refused.stderr and "UBL-Invoice-2.1.xsd" in refused.stderr
    assert not dest.exists()


def test_the_official_source_when_this_machine_has_it_is_the_one_carried() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "peppol"
    if not (shared / "MANIFEST.txt").is_file():
        pytest.skip(f"no copy of the official release at {shared} on this machine")
    assert (shared / "MANIFEST.txt").read_bytes() == (
        artifacts.PACKAGED / "MANIFEST.txt"
    ).read_bytes()


def test_the_code_list_of_schemes_is_read_from_the_copy() -> None:
    schemes = artifacts.eas_schemes()
    assert schemes["0208"].startswith("Numero d'entreprise")
    assert "9925" in schemes and "0088" in schemes
