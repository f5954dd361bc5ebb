"""What the benchmarks share: a throw-away installation, a seeded firm, an SMTP receiver.

Nothing here touches a real installation: the data directory is a temporary one, the keys
are generated, and any DATABASE_URL or COURRIER_* variable of the caller's shell is ignored.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet

if TYPE_CHECKING:
    from courrier.clients.models import Client
    from courrier.firm.models import Collaborator
    from courrier.mailing.models import MailTemplate

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SMTP_SINK = Path("/usr/sbin/smtp-sink")

# -- arguments --------------------------------------------------------------------------------


def positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def not_negative(text: str) -> int:
    """An argparse type: an integer of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


# -- the installation -------------------------------------------------------------------------


def environment(*, data_dir: Path, database_url: str | None) -> dict[str, str]:
    """The environment of a throw-away installation, for this process and for subprocesses."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("COURRIER_", "DATABASE_URL", "DJANGO_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="courrier.settings",
        COURRIER_DATA_DIR=str(data_dir),
        COURRIER_SECRET_KEY=secrets.token_urlsafe(50),
        COURRIER_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        # One line per message sent would flood the terminal and time the logging.
        COURRIER_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def django_setup(env: dict[str, str]) -> None:
    """Configure Django in this process with `env`, then create the tables."""
    for key in [k for k in os.environ if k.startswith(("COURRIER_", "DATABASE_URL", "DJANGO_"))]:
        del os.environ[key]
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def database_label() -> str:
    from django.db import connection

    if connection.vendor == "sqlite":
        mode = connection.cursor().execute("PRAGMA journal_mode").fetchone()[0]
        return f"SQLite ({mode.upper()})"
    return f"{connection.vendor} {connection.cursor().connection.info.server_version}"


# -- a firm, its clients and a template -------------------------------------------------------

SUBJECTS = {
    "fr": "{NOMCLIENT} : documents pour la clôture {ANNEEPRECEDENTE}",
    "nl": "{NOMCLIENT}: documenten voor de afsluiting {ANNEEPRECEDENTE}",
}
BODIES = {
    "fr": """{FORMULE},

Nous préparons la clôture de l'exercice {ANNEEPRECEDENTE} de {NOMCLIENT} (dossier {NUMCLIENT},
numéro d'entreprise {NUMENTREPRISE}, TVA {NUMTVA}).

Pourriez-vous nous faire parvenir avant le 31 mars les documents suivants :
- les extraits de compte de décembre ;
- les factures d'achat et de vente qui ne nous ont pas encore été transmises ;
- l'inventaire au 31 décembre et la liste des créances douteuses.

Vous pouvez les déposer sur https://www.fidu-martin.test/depot ou les envoyer en réponse à ce
message. Votre responsable de dossier, {RESPONSABLE} ({RESPONSABLE_EMAIL}, {RESPONSABLE_TEL}),
reste à votre disposition.

Bien cordialement,
""",
    "nl": """{FORMULE},

Wij bereiden de afsluiting van het boekjaar {ANNEEPRECEDENTE} van {NOMCLIENT} voor (dossier
{NUMCLIENT}, ondernemingsnummer {NUMENTREPRISE}, btw {NUMTVA}).

Kunt u ons vóór 31 maart de volgende documenten bezorgen:
- de rekeninguittreksels van december;
- de aankoop- en verkoopfacturen die wij nog niet ontvingen;
- de inventaris op 31 december en de lijst van dubieuze debiteuren.

U kunt ze opladen op https://www.fidu-martin.test/depot of als antwoord op dit bericht sturen.
Uw dossierbeheerder, {RESPONSABLE} ({RESPONSABLE_EMAIL}, {RESPONSABLE_TEL}), helpt u graag.

Met vriendelijke groeten,
""",
}
# Repeated to make a long mail (conditions, a detailed list): fields all the way through.
PADDING = {
    "fr": "\nRappel du {DATE} pour {NOMCLIENT} ({NUMCLIENT}) : les pièces reçues après la date "
    "convenue sont traitées dans l'ordre d'arrivée, et les frais de rappel éventuels sont "
    "facturés par {SOCIETEFACTURANTE}. Adresse du siège : {ADRESSE}, {CP} {LOCALITE}.\n",
    "nl": "\nHerinnering van {DATE} voor {NOMCLIENT} ({NUMCLIENT}): stukken die na de "
    "afgesproken datum binnenkomen, worden in volgorde van ontvangst verwerkt; eventuele "
    "aanmaningskosten worden gefactureerd door {SOCIETEFACTURANTE}. Zetel: {ADRESSE}, {CP} "
    "{LOCALITE}.\n",
}
SIGNATURE = "Anne Martin\nFiduciaire Martin SRL\nAvenue Louise 54, 1050 Bruxelles\n+32 2 765 43 22"


@dataclass
class SeededFirm:
    sender: Collaborator
    profile_id: int
    clients: list[Client]
    template: MailTemplate
    # language -> (subject, body)
    texts: dict[str, tuple[str, str]]


def template_texts(body_kb: int) -> dict[str, tuple[str, str]]:
    """Subject and body per language; the body padded to about `body_kb` KB when asked."""
    texts = {}
    for language, body in BODIES.items():
        while len(body.encode()) < body_kb * 1024:
            body += PADDING[language]
        texts[language] = (SUBJECTS[language], body)
    return texts


def firm_seed(*, clients: int, smtp_port: int, body_kb: int) -> SeededFirm:
    """A firm, a collaborator with an SMTP profile to 127.0.0.1:`smtp_port`, `clients`
    clients (French and Dutch speaking, all fields filled) and a two-language template."""
    from courrier.clients.models import Client, ClientEmail
    from courrier.firm.models import BillingCompany, Collaborator
    from courrier.firm.models import Firm as FirmRow
    from courrier.mailing.models import MailTemplate, MailTemplateVersion, SendingProfile

    FirmRow.objects.update_or_create(
        pk=1,
        defaults={
            "name": "Fiduciaire Martin",
            "phone": "+32 2 765 43 20",
            "website": "https://www.fidu-martin.test",
        },
    )
    company = BillingCompany.objects.create(
        code="FIDU", name="Fiduciaire Martin", legal_form="SRL", enterprise_number="0403.019.261"
    )
    sender = Collaborator.objects.create_user(
        email="anne.martin@fidu-martin.test",
        password=None,
        first_name="Anne",
        last_name="Martin",
        phone="+32 2 765 43 22",
        signature_fr=SIGNATURE,
    )
    responsible = Collaborator.objects.create_user(
        email="luc.peeters@fidu-martin.test",
        password=None,
        first_name="Luc",
        last_name="Peeters",
        phone="+32 2 765 43 21",
    )
    profile = SendingProfile.objects.create(
        collaborator=sender,
        smtp_host=HOST,
        smtp_port=smtp_port,
        smtp_security=SendingProfile.Security.NONE,
        from_name="Anne Martin – Fiduciaire Martin",
        from_address="anne.martin@fidu-martin.test",
        reply_to="dossiers@fidu-martin.test",
    )
    rows = Client.objects.bulk_create(
        Client(
            number=f"C{n:05d}",
            name=f"Boulangerie Dupont {n}",
            legal_form="SRL",
            enterprise_number="0403.019.261",
            vat_number="BE0403019261",
            language="nl" if n % 3 == 0 else "fr",
            contact_name="Marie Dupont",
            salutation="Chère Madame Dupont" if n % 3 else "Geachte mevrouw Dupont",
            street="Rue de la Loi 16",
            postal_code="1000",
            city="Bruxelles",
            phone="+32 2 123 45 67",
            billing_company=company,
            responsible=responsible,
        )
        for n in range(clients)
    )
    ClientEmail.objects.bulk_create(
        ClientEmail(client=client, address=f"compta{client.pk}@dupont-{client.pk}.test")
        for client in rows
    )
    texts = template_texts(body_kb)
    template = MailTemplate.objects.create(name="Clôture annuelle", shared=True)
    MailTemplateVersion.objects.bulk_create(
        MailTemplateVersion(template=template, language=language, subject=subject, body=body)
        for language, (subject, body) in texts.items()
    )
    # Fetched again as a screen would, one client at a time: no prefetched relations.
    return SeededFirm(
        sender=sender,
        profile_id=profile.pk,
        clients=list(Client.objects.order_by("pk")),
        template=template,
        texts=texts,
    )


# -- figures ----------------------------------------------------------------------------------


def milliseconds(durations: list[float]) -> str:
    """Median and 95th percentile of durations in seconds, in milliseconds."""
    median = statistics.median(durations) * 1000
    p95 = statistics.quantiles(durations, n=100)[94] * 1000 if len(durations) > 1 else median
    return f"median {median:.2f} ms, p95 {p95:.2f} ms"


def statements(queries: list[dict[str, Any]]) -> str:
    """SQL statements in short: "SELECT firm_firm x2, INSERT mailing_outboundmessage, ..."."""
    names = []
    for query in queries:
        sql = query["sql"]
        table = re.search(r'(?:FROM|INTO|UPDATE)\s+"(\w+)"', sql)
        names.append(sql.split()[0] + (f" {table.group(1)}" if table else ""))
    counts = dict.fromkeys(names, 0)
    for name in names:
        counts[name] += 1
    return ", ".join(name + (f" x{n}" if n > 1 else "") for name, n in counts.items())


# -- the SMTP receiver ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Receiver:
    """Postfix's smtp-sink when installed (fast, counts only), else the aiosmtpd fake of the
    tests (slower, keeps every message so that each one can be identified)."""

    def __init__(self, *, kind: str, directory: Path) -> None:
        if kind == "auto":
            kind = "smtp-sink" if SMTP_SINK.exists() else "fake"
        if kind == "smtp-sink" and not SMTP_SINK.exists():
            raise SystemExit(
                f"error: {SMTP_SINK} is not installed (DEBIAN_FRONTEND=noninteractive "
                "apt-get install -y postfix), or use --receiver fake"
            )
        self.kind = kind
        self.port = free_port()
        self._fake: Any = None
        self._sink: subprocess.Popen[bytes] | None = None
        self._output = directory / "smtp-sink.out"
        if kind == "fake":
            # The fake lives in the tests; they are not installed with the package.
            sys.path.insert(0, str(ROOT))
            from tests.fakes.smtp import FakeSMTPServer

            self._fake = FakeSMTPServer(port=self.port).start()
            self.name = "aiosmtpd fake (tests/fakes/smtp.py), in the benchmark process"
        else:
            # -c: a running count of messages on stdout; -u: smtp-sink refuses to run as root.
            user = ["-u", "nobody"] if os.geteuid() == 0 else []
            command = [str(SMTP_SINK), "-c", *user, f"{HOST}:{self.port}", "1000"]
            with self._output.open("wb") as output:
                # A fixed program path and our own arguments: no untrusted input.
                self._sink = subprocess.Popen(  # noqa: S603
                    command, stdout=output, stderr=subprocess.STDOUT
                )
            self._wait_listening()
            self.name = "Postfix smtp-sink"

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit(f"error: smtp-sink did not listen on {HOST}:{self.port}")

    def count(self) -> int:
        """Messages received so far (end of DATA answered)."""
        if self._fake is not None:
            return len(self._fake.messages)
        counts = re.findall(rb"mesg=(\d+)", self._output.read_bytes()[-200:])
        return int(counts[-1]) if counts else 0

    def connections(self) -> int:
        """SMTP sessions opened so far (smtp-sink counts those that ended)."""
        if self._fake is not None:
            return int(self._fake.connections)
        counts = re.findall(rb"sess=(\d+)", self._output.read_bytes()[-200:])
        # Less the connection that checked that smtp-sink was listening.
        return max(0, int(counts[-1]) - 1) if counts else 0

    def message_numbers(self) -> list[int] | None:
        """The X-Courrier-Message header of every message received, when the receiver keeps
        them (the fake); None for smtp-sink."""
        if self._fake is None:
            return None
        return [int(received.message["X-Courrier-Message"]) for received in self._fake.messages]

    def stop(self) -> None:
        if self._fake is not None:
            self._fake.stop()
        if self._sink is not None and self._sink.poll() is None:
            self._sink.terminate()
            self._sink.wait(timeout=10)


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
