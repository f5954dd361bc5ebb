"""Keys kept in the data directory for installations that do not set them in the environment."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet


def data_dir_secret(data_dir: Path, name: str, *, kind: Literal["django", "fernet"]) -> str:
    """Return the secret stored in `data_dir/keys/name`, creating it (mode 0600) when absent."""
    keys_dir = data_dir / "keys"
    path = keys_dir / name
    if path.exists():
        return path.read_text().strip()
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(50) if kind == "django" else Fernet.generate_key().decode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def keys_generate() -> list[str]:
    """Fresh keys, as the lines of an environment file, and how to rotate them."""
    return [
        f"COURRIER_SECRET_KEY={secrets.token_urlsafe(50)}",
        f"COURRIER_ENCRYPTION_KEYS={Fernet.generate_key().decode()}",
        "# To rotate: put the new key first, keep the old ones after a comma, "
        "run `courrier rotate_secrets`, then remove the old keys.",
    ]
