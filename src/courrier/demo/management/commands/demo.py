"""`courrier demo`: a demo firm, its worker, its web interface, a local SMTP catcher and a local
Peppol access point."""

from __future__ import annotations

import contextlib
import signal
import threading
from argparse import ArgumentParser
from pathlib import Path
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from courrier import arguments
from courrier.demo.access_point import received_dir
from courrier.demo.catcher import mailbox_dir
from courrier.demo.seed import (
    COLLABORATORS,
    DEFAULT_PEPPOL_PORT,
    DEFAULT_SMTP_PORT,
    DEMO_PASSWORD,
    PEPPOL_COMPANY,
)
from courrier.demo.stack import (
    DemoError,
    DemoStack,
    default_data_dir,
    demo_data_dir_lock,
    demo_data_dir_prepare,
)

_ROLES = {
    "sophie": gettext_lazy("administratrice, interface en français"),
    "pieter": gettext_lazy("collaborateur, interface en néerlandais"),
    "emma": gettext_lazy("collaboratrice, interface en anglais"),
}


class Command(BaseCommand):
    help = _(
        "Lance Courrier avec un cabinet de démonstration : interface web, worker d'envoi, "
        "récepteur SMTP local qui garde chaque mail et point d'accès Peppol local qui garde "
        "chaque facture électronique. Ctrl-C arrête tout."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--port",
            type=arguments.port,
            default=8000,
            help=_("Port de l'interface web (127.0.0.1)."),
        )
        parser.add_argument(
            "--smtp-port",
            type=arguments.port,
            default=DEFAULT_SMTP_PORT,
            help=_("Port du récepteur SMTP de la démo (127.0.0.1)."),
        )
        parser.add_argument(
            "--peppol-port",
            type=arguments.port,
            default=DEFAULT_PEPPOL_PORT,
            help=_("Port du point d'accès Peppol de la démo (127.0.0.1)."),
        )
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help=_(
                "Dossier des données de la démo (par défaut COURRIER_DATA_DIR, sinon var/demo)."
            ),
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help=_("Repartir d'une base vide : efface la base et la boîte de la démo."),
        )

    def handle(
        self,
        *args: Any,
        port: int,
        smtp_port: int,
        peppol_port: int,
        data_dir: Path | None,
        reset: bool,
        **options: Any,
    ) -> None:
        if len({port, smtp_port, peppol_port}) < 3:
            raise CommandError(_("--port, --smtp-port et --peppol-port doivent être différents."))
        data_dir = (data_dir or default_data_dir()).resolve()
        stop_requested = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop_requested.set()

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, request_stop)

        data_lock = contextlib.ExitStack()
        stack = DemoStack(
            data_dir=data_dir,
            port=port,
            smtp_port=smtp_port,
            peppol_port=peppol_port,
            stop_requested=stop_requested,
        )
        try:
            data_lock.enter_context(demo_data_dir_lock(data_dir))
            stack.check_ports()
            demo_data_dir_prepare(data_dir=data_dir, reset=reset)
            self.stdout.write(_("Préparation de la base de démonstration dans %s …") % data_dir)
            if not (
                stack.run_step("migrate", "migrate", "--noinput")
                and stack.run_step(
                    "seed", "seed_demo", f"--smtp-port={smtp_port}", f"--peppol-port={peppol_port}"
                )
            ):
                return
            stack.start_services()
            if not stack.wait_ready():
                return
            self._print_welcome(stack)
            while not stop_requested.wait(0.5):
                stack.check_children()
                stack.recover_when_due()
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if stack.children or stack.catcher is not None or stack.access_point is not None:
                self.stdout.write(_("Arrêt de la démo …"))
            stack.stop()
            data_lock.close()
        self.stdout.write(_("Démo arrêtée."))

    def _print_welcome(self, stack: DemoStack) -> None:
        site = stack.url.rstrip("/")
        register = reverse("billing:peppol_register", kwargs={"code": PEPPOL_COMPANY})
        access_point = _("Point d'accès Peppol (API de Billit)")
        lines = [
            "",
            _("Courrier — démonstration"),
            "",
            f"  {_('Interface')} :  {stack.url}",
            f"  {_('Boîte de la démo (mails reçus)')} :  {stack.url}demo/",
            f"  {_('Récepteur SMTP')} :  127.0.0.1:{stack.smtp_port} → "
            f"{mailbox_dir(stack.data_dir)}",
            f"  {_('Factures électroniques reçues (Peppol)')} :  {site}{reverse('demo:peppol')}",
            f"  {access_point} :  {stack.peppol_url} → {received_dir(stack.data_dir)}",
            f"  {_('Registre Peppol')} :  {site}{register}",
            f"  {_('Journaux')} :  {stack.logs}",
            "",
            _("  Connexions (mot de passe pour tous : %s)") % DEMO_PASSWORD,
        ]
        for person in COLLABORATORS:
            lines.append(f"    {person.email:<42} {_ROLES.get(person.key, '')!s}")
        lines += ["", _("Ctrl-C pour arrêter."), ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
