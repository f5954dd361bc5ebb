"""Print fresh keys for COURRIER_SECRET_KEY and COURRIER_ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from courrier.keys import keys_generate


class Command(BaseCommand):
    help = "Affiche une nouvelle clé Django et une nouvelle clé de chiffrement des secrets."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        for line in keys_generate():
            self.stdout.write(line)
