"""`courrier restore`: an archive of `courrier backup` into a fresh installation."""

from __future__ import annotations

import tarfile
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils.translation import gettext as _

from courrier.firm.production.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = _(
        "Restaure une archive de `courrier backup` (base de données et fichiers) dans une "
        "installation neuve, après en avoir vérifié chaque empreinte. Arrêtez d'abord le "
        "serveur web et les workers."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("archive", type=Path, help=_("L'archive .tar.gz à restaurer."))
        parser.add_argument(
            "--force",
            action="store_true",
            help=_("Remplacer la base et les fichiers d'une installation qui en contient."),
        )

    def handle(self, *args: Any, archive: Path, force: bool, **options: Any) -> None:
        if not archive.is_file():
            raise CommandError(_("Archive introuvable : %(path)s") % {"path": archive})
        try:
            summary = backup_restore(archive_path=archive, force=force)
        except (BackupError, OSError, DatabaseError, tarfile.TarError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            _("Sauvegarde du %(date)s restaurée (fichiers : %(files)d).")
            % {"date": summary.created_at, "files": summary.files}
        )
        if not summary.keys_match:
            self.stderr.write(
                _(
                    "Attention : COURRIER_ENCRYPTION_KEYS ne contient pas la clé de cette "
                    "sauvegarde ; les mots de passe et jetons enregistrés seront illisibles. "
                    "Remettez la clé de l'installation d'origine."
                )
            )
        if not summary.secret_key_matches:
            self.stderr.write(
                _(
                    "Attention : COURRIER_SECRET_KEY n'est pas celle de l'installation "
                    "d'origine ; les codes des liens sécurisés en cours ne seront plus acceptés."
                )
            )
        for missing in summary.missing:
            self.stderr.write(_("Fichier absent de la sauvegarde : %(name)s") % {"name": missing})
        self.stdout.write(_("Lancez ensuite `courrier migrate`, puis redémarrez les services."))
