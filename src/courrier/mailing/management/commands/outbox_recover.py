"""Cron job: settle what stopped workers left (deliveries, task rows, batches, files), wake
delivery for messages left waiting, and ask the Peppol access points how the documents they
took are doing (bounded per run).

Like every command, it speaks the active language: French (LANGUAGE_CODE) unless a caller
activates another one.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from courrier.mailing import services
from courrier.peppol.status import statuses_poll


class Command(BaseCommand):
    help = _(
        "Règle les envois interrompus (bail expiré ou worker arrêté) : le message que le "
        "serveur avait reçu sans répondre devient « incertain », jamais renvoyé "
        "automatiquement, les suivants repartent ; relance la livraison des profils qui ont "
        "des messages prêts, reprend les envois groupés interrompus, marque en échec les "
        "tâches des workers arrêtés et supprime les fichiers de factures qu'ils ont laissés. "
        "À lancer par cron, par exemple toutes les 5 minutes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-kick",
            action="store_true",
            help=_("Ne pas relancer la livraison des messages en attente."),
        )

    def handle(self, *args: Any, no_kick: bool = False, **options: Any) -> None:
        recovery = services.outbox_recover()
        settled = recovery.messages
        self.stdout.write(
            ngettext(
                "%(count)d envoi interrompu réglé.",
                "%(count)d envois interrompus réglés.",
                settled,
            )
            % {"count": settled}
        )
        if recovery.tasks:
            self.stdout.write(
                ngettext(
                    "%(count)d tâche d'un worker arrêté marquée en échec.",
                    "%(count)d tâches de workers arrêtés marquées en échec.",
                    recovery.tasks,
                )
                % {"count": recovery.tasks}
            )
        if recovery.files:
            self.stdout.write(
                ngettext(
                    "%(count)d fichier laissé par un envoi groupé interrompu supprimé.",
                    "%(count)d fichiers laissés par des envois groupés interrompus supprimés.",
                    recovery.files,
                )
                % {"count": recovery.files}
            )
        resumed = recovery.batches
        self.stdout.write(
            ngettext(
                "%(count)d envoi groupé interrompu repris.",
                "%(count)d envois groupés interrompus repris.",
                resumed,
            )
            % {"count": resumed}
        )
        polled = statuses_poll()
        if polled:
            # Said only when something changed: most runs ask nothing due.
            self.stdout.write(
                ngettext(
                    "%(count)d nouveau statut Peppol enregistré.",
                    "%(count)d nouveaux statuts Peppol enregistrés.",
                    polled,
                )
                % {"count": polled}
            )
        if no_kick:
            return
        profiles = services.profiles_waiting()
        for profile_id in profiles:
            services.delivery_enqueue(profile_id=profile_id)
        self.stdout.write(
            ngettext(
                "Livraison relancée pour %(count)d paramétrage d'envoi.",
                "Livraison relancée pour %(count)d paramétrages d'envoi.",
                len(profiles),
            )
            % {"count": len(profiles)}
        )
