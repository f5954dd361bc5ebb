"""Where the outbox stands: messages per state, and those that wait for a person.

Like every command, it speaks the active language: French (LANGUAGE_CODE) unless a caller
activates another one.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier import arguments
from courrier.mailing.models import OutboundMessage, SendingProfile

Status = OutboundMessage.Status
NEEDS_A_PERSON = (Status.UNCERTAIN, Status.HELD, Status.FAILED)


class Command(BaseCommand):
    help = _(
        "Affiche l'état de la boîte de sortie : nombre de messages par état, paramétrages à "
        "corriger et messages qui attendent une décision (incertains, retenus, en échec)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit",
            type=arguments.count,
            default=20,
            # argparse fills in %(default)s.
            help=_("Nombre maximal de messages listés par état (%(default)s par défaut)."),
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
            self.stdout.write(
                _("Paramétrage à corriger : %(address)s — %(reason)s")
                % {
                    "address": profile.from_address,
                    "reason": " ".join(str(profile.state_reason).split()),
                }
            )

        for status in NEEDS_A_PERSON:
            rows = (
                OutboundMessage.objects.filter(status=status)
                .order_by("-updated_at")
                .values_list("pk", "created_at", "subject", "to", "last_error")[:limit]
            )
            for pk, created_at, subject, to, last_error in rows:
                self.stdout.write(
                    _("[%(status)s] n°%(number)d du %(date)s à %(to)s : %(subject)s — %(reason)s")
                    % {
                        "status": Status(status).label,
                        "number": pk,
                        # The firm's clock (Europe/Brussels), not UTC as stored.
                        "date": f"{timezone.localtime(created_at):%d/%m/%Y %H:%M}",
                        "to": ", ".join(to),
                        "subject": subject,
                        "reason": " ".join(str(last_error).split()),
                    }
                )
