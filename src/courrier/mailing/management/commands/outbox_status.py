"""Where the outbox stands: messages per state, and those that wait for a person."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count

from courrier.mailing.models import OutboundMessage, SendingProfile

Status = OutboundMessage.Status
NEEDS_A_PERSON = (Status.UNCERTAIN, Status.HELD, Status.FAILED)


class Command(BaseCommand):
    help = (
        "Affiche l'état de la boîte de sortie : nombre de messages par état, paramétrages à "
        "corriger et messages qui attendent une décision (incertains, retenus, en échec)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit",
            type=int,
            default=20,
            help="Nombre maximal de messages listés par état (20 par défaut).",
        )

    def handle(self, *args: Any, limit: int = 20, **options: Any) -> None:
        counts = dict(
            OutboundMessage.objects.values_list("status").annotate(n=Count("pk")).order_by()
        )
        for status in Status:
            self.stdout.write(f"{status.label:<28} {counts.get(status.value, 0):>7}")

        # The password is never loaded here: only what identifies the profile.
        broken = SendingProfile.objects.exclude(state=SendingProfile.State.OK).only(
            "pk", "from_address", "state_reason"
        )
        for profile in broken:
            reason = " ".join(profile.state_reason.split())
            self.stdout.write(f"Paramétrage à corriger : {profile.from_address} — {reason}")

        for status in NEEDS_A_PERSON:
            rows = (
                OutboundMessage.objects.filter(status=status)
                .order_by("-updated_at")
                .values_list("pk", "created_at", "subject", "to", "last_error")[:limit]
            )
            for pk, created_at, subject, to, last_error in rows:
                reason = " ".join(last_error.split())
                self.stdout.write(
                    f"[{Status(status).label}] n°{pk} du {created_at:%d/%m/%Y %H:%M} "
                    f"à {', '.join(to)} : {subject} — {reason}"
                )
