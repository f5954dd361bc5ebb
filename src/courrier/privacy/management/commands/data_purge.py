"""Nightly job: delete the archived mails, documents and secure links older than the firm's
retention period (Administration > Cabinet), with their stored files. Invoices and the mails
that carried them are kept. `--dry-run` only counts.

Like every command, it speaks the active language: French (LANGUAGE_CODE) unless a caller
activates another one.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from courrier.privacy.services import data_purge


class Command(BaseCommand):
    help = _(
        "Supprime les mails archivés, les documents et les liens sécurisés plus anciens que la "
        "durée de conservation du cabinet, avec leurs fichiers. Les factures émises et leurs "
        "mails sont conservés. À lancer chaque nuit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("Compte ce qui serait supprimé, sans rien supprimer."),
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        report = data_purge(dry_run=dry_run)
        values = {
            "years": report.years,
            "date": date_format(report.before, "SHORT_DATE_FORMAT"),
            "mails": report.mails,
            "documents": report.documents,
            "links": report.links,
            "kept": report.invoice_mails_kept,
        }
        if dry_run:
            text = _(
                "Conservation %(years)s ans : seraient supprimés avant le %(date)s "
                "%(mails)s mails, %(documents)s documents et %(links)s liens sécurisés ; "
                "%(kept)s mails de factures conservés."
            )
        else:
            text = _(
                "Conservation %(years)s ans : supprimés avant le %(date)s %(mails)s mails, "
                "%(documents)s documents et %(links)s liens sécurisés ; %(kept)s mails de "
                "factures conservés."
            )
        self.stdout.write(text % values)
