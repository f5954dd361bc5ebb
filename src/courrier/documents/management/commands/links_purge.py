"""Cron job: delete the file copies of secure links that ended a while ago."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from courrier.mailing.links import PURGE_AFTER_DAYS, links_purge


class Command(BaseCommand):
    help = (
        "Supprime les copies des fichiers envoyés par lien sécurisé quand le lien a expiré "
        "ou a été révoqué depuis plus de N jours (les liens et leurs ouvertures restent "
        "enregistrés). À lancer par cron, par exemple une fois par jour."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=PURGE_AFTER_DAYS,
            help=f"Délai après la fin du lien, en jours (par défaut {PURGE_AFTER_DAYS}).",
        )

    def handle(self, *args: Any, days: int = PURGE_AFTER_DAYS, **options: Any) -> None:
        if days < 0:
            raise CommandError("--days doit être un nombre de jours positif ou nul.")
        purged = links_purge(after_days=days)
        self.stdout.write(f"{purged} fichier(s) de lien sécurisé supprimé(s).")
