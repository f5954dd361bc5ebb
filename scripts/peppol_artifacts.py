"""Bring the official Peppol validation artifacts into the project, unedited.

    python scripts/peppol_artifacts.py SOURCE [--dest src/courrier/peppol/artifacts]

SOURCE is a folder holding the artifacts and their MANIFEST.txt (one line per file: its path,
the first 16 hex digits of its SHA-256, the repository, the path in it, the commit and the
licence). Every file the MANIFEST lists is checked against its hash, then copied byte for byte
with the MANIFEST into DEST; a file of DEST that the MANIFEST does not list is removed. Nothing
is written when any file is missing or differs: the copy is the official release or nothing.
Run it again with a newer release's folder to update; `tests/peppol/test_artifacts.py` checks
the copy in the project against its MANIFEST.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / "src" / "courrier" / "peppol" / "artifacts"
MANIFEST = "MANIFEST.txt"


def listed(manifest: Path) -> dict[str, str]:
    """The files a MANIFEST lists, with the hash prefix it gives each."""
    files: dict[str, str] = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        path, digest = (part.strip() for part in line.split("|")[:2])
        files[path] = digest
    return files


def problems(folder: Path) -> list[str]:
    """What in `folder` does not match its MANIFEST (missing files, other bytes)."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return [f"{manifest}: no MANIFEST"]
    found = []
    for name, digest in listed(manifest).items():
        path = folder / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            found.append(f"{name}: not a path inside the folder")
        elif not path.is_file():
            found.append(f"{name}: missing")
        elif not hashlib.sha256(path.read_bytes()).hexdigest().startswith(digest):
            found.append(f"{name}: its SHA-256 does not start with {digest}")
    return found


def bring(source: Path, dest: Path) -> None:
    wrong = problems(source)
    if wrong:
        raise SystemExit("error: nothing copied:\n  " + "\n  ".join(wrong))
    names = [MANIFEST, *listed(source / MANIFEST)]
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target)
    keep = {dest / name for name in names}
    for path in sorted(dest.rglob("*"), reverse=True):
        if path.is_file() and path not in keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    wrong = problems(dest)
    if wrong:
        raise SystemExit("error: the copy differs:\n  " + "\n  ".join(wrong))
    print(f"{len(names)} files in {dest}, each as its MANIFEST says")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a folder with the artifacts and MANIFEST.txt")
    parser.add_argument("--dest", type=Path, default=DEST, help=f"default {DEST}")
    args = parser.parse_args()
    bring(args.source.resolve(), args.dest.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
