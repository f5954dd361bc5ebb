"""`courrier peppol-status`: ask the access points now for the status of the Peppol documents
sent and not settled (the cron's `outbox_recover` does it too, bounded per run).

Like every command, it speaks the active language: French (LANGUAGE_CODE) unless a caller
activates another one.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from courrier.peppol.status import statuses_poll


class Command(BaseCommand):
    help = _(
        "Demande aux points d'accès Peppol où en sont les documents envoyés (remis, refusés, "
        "réponse de l'acheteur) et enregistre ce qui a changé."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit",
            type=int,
            default=None,
            help=_("Nombre maximal de documents interrogés (50 par défaut)."),
        )

    def handle(self, *args: Any, limit: int | None = None, **options: Any) -> None:
        if limit is not None and limit < 1:
            self.stderr.write(_("La limite doit être un nombre entier positif."))
            return
        recorded = statuses_poll(limit=limit)
        self.stdout.write(
            ngettext(
                "%(count)d nouveau statut Peppol enregistré.",
                "%(count)d nouveaux statuts Peppol enregistrés.",
                recorded,
            )
            % {"count": recorded}
        )
