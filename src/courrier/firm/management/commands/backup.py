"""`courrier backup`: the database and the data directory's files in one archive."""

from __future__ import annotations

import tarfile
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.firm.production.backup import BackupError, backup_create


class Command(BaseCommand):
    help = _(
        "Sauvegarde la base de données puis les fichiers (documents, PDF, pièces jointes, "
        "mises en page) dans une archive .tar.gz avec un manifeste et leurs empreintes SHA-256, "
        "pendant que l'application tourne. Les clés n'y sont pas : gardez-les à part."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--output",
            "-o",
            type=Path,
            help=_(
                "Fichier de l'archive, ou dossier où la créer "
                "(par défaut courrier-AAAAMMJJ-HHMMSS.tar.gz dans le dossier courant)."
            ),
        )

    def handle(self, *args: Any, output: Path | None, **options: Any) -> None:
        name = timezone.localtime().strftime("courrier-%Y%m%d-%H%M%S.tar.gz")
        destination = output or Path(name)
        if destination.is_dir():
            destination = destination / name
        try:
            summary = backup_create(destination=destination)
        except (BackupError, OSError, DatabaseError, tarfile.TarError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            _("Sauvegarde écrite : %(path)s (fichiers : %(files)d, octets : %(size)d).")
            % {"path": summary.path, "files": summary.files, "size": summary.size}
        )
        for missing in summary.missing:
            self.stderr.write(
                _("Fichier nommé par la base mais absent du disque : %(name)s") % {"name": missing}
            )
        self.stdout.write(
            _(
                "Rappel : COURRIER_ENCRYPTION_KEYS et COURRIER_SECRET_KEY ne sont pas dans "
                "l'archive ; sans elles, les mots de passe enregistrés sont illisibles."
            )
        )
