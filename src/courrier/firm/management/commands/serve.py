"""`courrier serve`: the production web server (gunicorn), started only on a sound installation."""

from __future__ import annotations

import os
import shlex
from argparse import ArgumentParser
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from courrier.firm.production.server import ServerOptions, deploy_problems, gunicorn_argv


class Command(BaseCommand):
    help = _(
        "Lance le serveur web de production (gunicorn) après avoir vérifié la configuration "
        "(check --deploy) et les migrations. Chaque option a sa variable d'environnement."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--bind",
            help=_("Adresse et port d'écoute (COURRIER_WEB_BIND, par défaut 127.0.0.1:8000)."),
        )
        parser.add_argument(
            "--workers",
            type=int,
            help=_("Nombre de processus (COURRIER_WEB_WORKERS, par défaut 2 par processeur + 1)."),
        )
        parser.add_argument(
            "--timeout",
            type=int,
            help=_(
                "Secondes au-delà desquelles un processus muet est remplacé "
                "(COURRIER_WEB_TIMEOUT, 120)."
            ),
        )
        parser.add_argument(
            "--graceful-timeout",
            type=int,
            help=_(
                "Secondes laissées aux requêtes en cours lors d'un arrêt ou d'un rechargement "
                "(COURRIER_WEB_GRACEFUL_TIMEOUT, 30)."
            ),
        )
        parser.add_argument(
            "--max-requests",
            type=int,
            help=_(
                "Un processus est remplacé après ce nombre de requêtes, 0 : jamais "
                "(COURRIER_WEB_MAX_REQUESTS, 1000)."
            ),
        )
        parser.add_argument(
            "--max-requests-jitter",
            type=int,
            help=_("Écart aléatoire ajouté à ce nombre (COURRIER_WEB_MAX_REQUESTS_JITTER, 100)."),
        )
        parser.add_argument(
            "--forwarded-allow-ips",
            help=_(
                "Adresses du reverse proxy dont les en-têtes X-Forwarded-* sont crus "
                "(COURRIER_FORWARDED_ALLOW_IPS, par défaut 127.0.0.1,::1)."
            ),
        )
        parser.add_argument(
            "--access-log",
            help=_("Journal des accès : un fichier, ou - (COURRIER_WEB_ACCESS_LOG, par défaut -)."),
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("Vérifier et afficher la commande gunicorn sans la lancer."),
        )

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        given = {name: options.get(name) for name in ServerOptions.__dataclass_fields__}
        try:
            server = ServerOptions.from_environment(**given)
        except ValueError as exc:
            raise CommandError(_("Valeur invalide : %(error)s") % {"error": exc}) from exc
        if server.workers < 1 or server.timeout < 1 or server.graceful_timeout < 0:
            raise CommandError(
                _("--workers et --timeout doivent être positifs, --graceful-timeout aussi.")
            )
        problems = deploy_problems()
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(
                _(
                    "Le serveur ne démarre pas : la configuration n'est pas prête pour la "
                    "production (voir ci-dessus, et `courrier check --deploy`)."
                ),
                returncode=2,
            )
        argv = gunicorn_argv(server)
        if dry_run:
            self.stdout.write(shlex.join(argv))
            return
        # The static files are served by WhiteNoise from the collected copy.
        call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.flush()
        os.execv(argv[0], argv)  # noqa: S606 - gunicorn takes over this process (and its PID)
