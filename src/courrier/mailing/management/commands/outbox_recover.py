"""Cron job: settle deliveries that stopped, and wake delivery for messages left waiting."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from courrier.mailing import services


class Command(BaseCommand):
    help = (
        "Règle les envois interrompus (message en cours d'envoi dont le bail a expiré : "
        "« incertain », jamais renvoyé automatiquement) et relance la livraison des profils "
        "qui ont des messages prêts ; reprend les envois groupés interrompus. "
        "À lancer par cron, par exemple toutes les 5 minutes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-kick",
            action="store_true",
            help="Ne pas relancer la livraison des messages en attente.",
        )

    def handle(self, *args: Any, no_kick: bool = False, **options: Any) -> None:
        settled = services.messages_recover()
        self.stdout.write(f"{settled} envoi(s) interrompu(s) réglé(s).")
        resumed = services.batches_resume_stalled()
        self.stdout.write(f"{resumed} envoi(s) groupé(s) interrompu(s) repris.")
        if no_kick:
            return
        profiles = services.profiles_waiting()
        for profile_id in profiles:
            services.delivery_enqueue(profile_id=profile_id)
        self.stdout.write(f"Livraison relancée pour {len(profiles)} paramétrage(s) d'envoi.")
