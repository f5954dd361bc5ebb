"""`courrier worker`: the background worker (django-tasks-db's `db_worker`, same options),
which first settles what a worker stopped before it left (`services.outbox_recover`).

Its id names its process (host, pid, start), so that the next worker to start on the host,
or `courrier outbox_recover`, knows once it died: its task row is marked failed with the
reason and its claimed messages are settled at once, without waiting for their lease.
"""

from __future__ import annotations

import logging
from argparse import ArgumentParser
from typing import Any

from django.utils.translation import gettext as _
from django_tasks_db.management.commands import db_worker

from courrier.mailing import services
from courrier.mailing.services.workers import process_token

logger = logging.getLogger("courrier.mailing")


class Command(db_worker.Command):
    help = _(
        "Lance le worker d'envoi (mêmes options que db_worker), après avoir réglé ce que des "
        "workers arrêtés ont laissé : leurs tâches, leurs messages, leurs fichiers."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(worker_id=process_token())

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            recovery = services.outbox_recover()
        except Exception:
            # The worker starts anyway: the cron's outbox_recover settles it later.
            logger.exception("the start-up recovery failed")
        else:
            logger.info("start-up recovery: %s", recovery)
        super().handle(*args, **options)
