"""Print fresh keys for COURRIER_SECRET_KEY and COURRIER_ENCRYPTION_KEYS."""

from __future__ import annotations

import secrets
from typing import Any

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Affiche une nouvelle clé Django et une nouvelle clé de chiffrement des secrets."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"COURRIER_SECRET_KEY={secrets.token_urlsafe(50)}")
        self.stdout.write(f"COURRIER_ENCRYPTION_KEYS={Fernet.generate_key().decode()}")
        self.stdout.write(
            "# To rotate: put the new key first, keep the old ones after a comma, "
            "run `courrier rotate_secrets`, then remove the old keys."
        )
