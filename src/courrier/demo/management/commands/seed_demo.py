"""`courrier seed_demo`: create (or bring up to date) the demo firm in the configured database."""

from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from courrier import arguments
from courrier.demo.seed import (
    COLLABORATORS,
    DEFAULT_PEPPOL_PORT,
    DEFAULT_SMTP_PORT,
    DEMO_PASSWORD,
    demo_seed,
)


def _default_port(
    variable: str = "COURRIER_DEMO_SMTP_PORT", default: int = DEFAULT_SMTP_PORT
) -> int:
    try:
        return int(os.environ.get(variable, default))
    except ValueError:
        return default


class Command(BaseCommand):
    help = _(
        "Crée le cabinet de démonstration (collaborateurs, sociétés facturantes, clients, "
        "modèles). Sans effet s'il existe déjà, sauf le port SMTP des paramétrages d'envoi "
        "et celui du point d'accès Peppol."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--smtp-port",
            type=arguments.port,
            default=_default_port(),
            help=_("Port du récepteur SMTP local de la démo (127.0.0.1)."),
        )
        parser.add_argument(
            "--peppol-port",
            type=arguments.port,
            default=_default_port("COURRIER_DEMO_PEPPOL_PORT", DEFAULT_PEPPOL_PORT),
            help=_("Port du point d'accès Peppol local de la démo (127.0.0.1)."),
        )

    def handle(
        self, *args: Any, smtp_port: int, peppol_port: int, verbosity: int = 1, **options: Any
    ) -> None:
        if not 0 < smtp_port < 65536:
            raise CommandError(_("Le port SMTP doit être compris entre 1 et 65535."))
        if not 0 < peppol_port < 65536:
            raise CommandError(
                _("Le port du point d'accès Peppol doit être compris entre 1 et 65535.")
            )
        report = demo_seed(smtp_port=smtp_port, peppol_port=peppol_port)
        if verbosity:
            self.stdout.write(
                _(
                    "Cabinet de démonstration prêt : %(collaborators)d collaborateurs, "
                    "%(companies)d sociétés facturantes, %(clients)d clients, "
                    "%(templates)d modèles."
                )
                % {
                    "collaborators": report.collaborators,
                    "companies": report.billing_companies,
                    "clients": report.clients,
                    "templates": report.templates,
                }
            )
        if verbosity > 1:
            for person in COLLABORATORS:
                self.stdout.write(f"  {person.email} / {DEMO_PASSWORD}")
