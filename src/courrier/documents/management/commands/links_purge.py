"""Cron job: delete the file copies of secure links that ended a while ago.

Like every command, it speaks the active language: French (LANGUAGE_CODE) unless a caller
activates another one.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from courrier.mailing.services import PURGE_AFTER_DAYS, links_purge


class Command(BaseCommand):
    help = _(
        "Supprime les copies des fichiers envoyés par lien sécurisé quand le lien a expiré "
        "ou a été révoqué depuis plus de N jours (les liens et leurs ouvertures restent "
        "enregistrés). À lancer par cron, par exemple une fois par jour."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=PURGE_AFTER_DAYS,
            # argparse fills in %(default)s.
            help=_("Délai après la fin du lien, en jours (par défaut %(default)s)."),
        )

    def handle(self, *args: Any, days: int = PURGE_AFTER_DAYS, **options: Any) -> None:
        if days < 0:
            raise CommandError(_("--days doit être un nombre de jours positif ou nul."))
        purged = links_purge(after_days=days)
        self.stdout.write(
            ngettext(
                "%(count)d fichier de lien sécurisé supprimé.",
                "%(count)d fichiers de lien sécurisé supprimés.",
                purged,
            )
            % {"count": purged}
        )
