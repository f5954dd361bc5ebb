"""`courrier send-invoices --company CODE [--until YYYY-MM-DD] [--dry-run]`: the Peppol and
e-mail registers of a billing company, sent as one batch from the terminal.

The pre-send check first (blocked invoices listed with their reasons, never sent; those whose
clients receive paper listed as to print), then each invoice sent its client's way — its
e-invoice (UBL, validated) through the company's Peppol access point, or its mail (PDF,
template in its language) through the company's profile — with a progress bar, then one
summary: sent by Peppol, by e-mail, to print, blocked. Run twice, it sends nothing twice.

Credit notes go with the invoices (each with its own template): when any is among those chosen,
every count says how many invoices and how many credit notes, never "factures" for both.

Whoever runs it holds the server: the command is an administrator's tool. Without `--by` it acts
as the firm's first administrator; `--by ADDRESS` (or `--as`) names the collaborator who sends,
who must hold the permission to send invoices (`billing.send_invoices`) as on the pages.

Exit codes: 0 every chosen invoice was sent or is to print (or there was nothing to send);
1 some were blocked, failed, are uncertain or still waiting; 2 a wrong argument (or a
`--by` collaborator without the permission).
"""

from __future__ import annotations

import sys
import time
from datetime import date
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from courrier import arguments
from courrier.billing.models import Invoice
from courrier.billing.services import sending
from courrier.firm.models import BillingCompany, Collaborator
from courrier.firm.permissions import SEND_INVOICES
from courrier.mailing import services
from courrier.mailing.models import OutboundMessage
from courrier.mailing.services import PresendCheck, messages_deliver

Status = OutboundMessage.Status
WAITING = (Status.QUEUED, Status.SENDING, Status.RETRY)


def invoices_done(done: int, total: int, *, credit_notes: bool = False) -> str:
    """The progress as "3/10 factures" (or "3/10 factures et notes de crédit" when credit notes
    are among them): the noun agrees with the total, not with the done."""
    if credit_notes:
        return ngettext(
            "%(done)d/%(total)d facture ou note de crédit",
            "%(done)d/%(total)d factures et notes de crédit",
            total,
        ) % {"done": done, "total": total}
    return ngettext("%(done)d/%(total)d facture", "%(done)d/%(total)d factures", total) % {
        "done": done,
        "total": total,
    }


def to_print_count(count: int) -> str:
    # Translators: invoices whose clients receive them on paper.
    return ngettext("%(count)d à imprimer", "%(count)d à imprimer", count) % {"count": count}


def _to_print(check: PresendCheck) -> bool:
    """An invoice whose client receives paper: not blocked, to print."""
    return any(getattr(reason, "code", "") == "paper" for reason in check.blockers)


def invoices_count(count: int) -> str:
    return ngettext("%(count)d facture", "%(count)d factures", count) % {"count": count}


def credit_notes_count(count: int) -> str:
    return ngettext("%(count)d note de crédit", "%(count)d notes de crédit", count) % {
        "count": count
    }


def both(invoices: str, credit_notes: str) -> str:
    """Two counts said together: "3 factures et 1 note de crédit"."""
    # Translators: joins a count of invoices and a count of credit notes.
    return _("%(invoices)s et %(credit_notes)s") % {
        "invoices": invoices,
        "credit_notes": credit_notes,
    }


class Progress:
    """A one-line bar on a terminal; a line per tenth elsewhere (a log file)."""

    def __init__(self, out: TextIO, label: str, total: int, *, credit_notes: bool = False) -> None:
        self.out, self.label, self.total = out, label, max(total, 0)
        self.credit_notes = credit_notes
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self._shown = -1

    def update(self, done: int) -> None:
        if not self.total:
            return
        done = min(done, self.total)
        if self.tty:
            width = 30
            filled = width * done // self.total
            bar = "#" * filled + "." * (width - filled)
            self.out.write(f"\r{self.label} [{bar}] {self._done(done)}")
            self.out.flush()
        else:
            tenth = 10 * done // self.total
            if tenth != self._shown:
                self._shown = tenth
                self.out.write(f"{self.label} {self._done(done)}\n")

    def _done(self, done: int) -> str:
        return invoices_done(done, self.total, credit_notes=self.credit_notes)

    def end(self) -> None:
        if self.tty and self.total:
            self.out.write("\n")


def blocked_count(count: int) -> str:
    """The blocked invoices as "1 bloquée" / "2 bloquées" (in French, agreeing with facture)."""
    # Translators: invoices blocked by the pre-send check, as in "3 invoices to send, 1 blocked".
    return ngettext("%(count)d bloquée", "%(count)d bloquées", count) % {"count": count}


def shown_number(number: str, credit_note: bool) -> str:
    """An invoice's number as the lines show it; a credit note's says it is one."""
    if credit_note:
        # Translators: a credit note's number in the command's lines ("note de crédit 2026/0004").
        return _("note de crédit %(number)s") % {"number": number}
    return number


class Command(BaseCommand):
    help = _("Envoie par e-mail les factures non envoyées du registre e-mail d'une société.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--company", required=True, help=_("code de la société facturante"))
        parser.add_argument(
            "--until", help=_("seulement les factures émises jusqu'à cette date (AAAA-MM-JJ)")
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("contrôle avant envoi seulement : rien n'est envoyé"),
        )
        parser.add_argument(
            "--by",
            "--as",
            dest="by",
            help=_(
                "adresse du collaborateur qui envoie, qui doit avoir le droit d'envoyer des "
                "factures (par défaut : un administrateur)"
            ),
        )
        parser.add_argument(
            "--timeout",
            type=arguments.seconds,
            default=600.0,
            help=_("secondes d'attente au plus pour la remise (600 par défaut)"),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        company = self._company(options["company"])
        until = self._until(options["until"])
        by = self._by(options["by"])
        if options["by"] and not options["dry_run"] and not by.has_perm(SEND_INVOICES):
            # The CLI is an administrator's tool; `--by` names someone who acts, and they
            # must be allowed to send invoices as on the pages.
            raise CommandError(
                _(
                    "%(who)s n'a pas le droit d'envoyer des factures (rôle Facturation) : "
                    "rien n'a été envoyé."
                )
                % {"who": by.email},
                returncode=2,
            )
        out = self.stdout

        invoices = list(sending.invoices_unsent(billing_company=company, until=until))
        checks = sending.invoice_presend_check(invoices=invoices, by=by)
        ready = [check for check in checks if check.ok]
        printed = [check for check in checks if _to_print(check)]
        blocked = [check for check in checks if not check.ok and not _to_print(check)]
        # One phrase per count: a language may agree each noun with its own number.
        notes = sum(1 for check in ready if check.about.is_credit_note)
        credit_notes = any(check.about.is_credit_note for check in checks)
        if credit_notes:
            ready_text = _("%(documents)s à envoyer") % {
                "documents": both(invoices_count(len(ready) - notes), credit_notes_count(notes))
            }
        else:
            ready_text = ngettext(
                "%(count)d facture à envoyer", "%(count)d factures à envoyer", len(ready)
            ) % {"count": len(ready)}
        if printed:
            ready_text += ", " + to_print_count(len(printed))
        out.write(
            _("%(company)s : %(ready)s, %(blocked)s.")
            % {"company": company, "ready": ready_text, "blocked": blocked_count(len(blocked))}
        )
        self._checks(checks)
        if options["dry_run"]:
            out.write(_("Contrôle seulement (--dry-run) : rien n'a été envoyé."))
            if blocked:
                sys.exit(1)
            return
        if not checks:
            return

        batch = sending.invoice_batch_start(by=by, invoices=invoices, enqueue=False)
        bar = Progress(
            self._terminal(), _("Préparation"), len(batch.object_ids), credit_notes=credit_notes
        )
        batch = services.batch_compose(
            batch_id=batch.pk, progress=lambda step: bar.update(step.done)
        )
        bar.end()

        messages = OutboundMessage.objects.filter(batch=batch)
        profiles = sorted(set(messages.values_list("profile_id", flat=True)))
        total = messages.count()
        bar = Progress(self._terminal(), _("Envoi"), total, credit_notes=credit_notes)
        deadline = time.monotonic() + options["timeout"]
        while time.monotonic() < deadline:
            for profile_id in profiles:
                messages_deliver(profile_id=profile_id, limit=50)
                bar.update(messages.exclude(status__in=WAITING).count())
            if not messages.filter(status__in=WAITING).exists():
                break
            # Retries wait for their time; another worker may hold some: look again shortly.
            time.sleep(1.0)
        bar.end()
        summary = sending.invoice_batch_summary(batch=batch)
        self._summary(summary, credit_notes=credit_notes)
        if not summary.complete:
            sys.exit(1)

    def _terminal(self) -> TextIO:
        stream: TextIO = getattr(self.stdout, "_out", sys.stdout)
        return stream

    # -- arguments ------------------------------------------------------------------------------

    def _company(self, code: str) -> BillingCompany:
        company = BillingCompany.objects.filter(code__iexact=code.strip()).first()
        if company is None:
            codes = ", ".join(
                BillingCompany.objects.order_by("code").values_list("code", flat=True)
            )
            raise CommandError(
                _("Société facturante inconnue : « %(code)s » (codes existants : %(codes)s).")
                % {"code": code, "codes": codes or "-"},
                returncode=2,
            )
        return company

    def _until(self, text: str | None) -> date | None:
        if not text:
            return None
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            raise CommandError(
                _("Date invalide : « %(text)s » ; écrivez-la AAAA-MM-JJ, par exemple 2026-03-31.")
                % {"text": text},
                returncode=2,
            ) from None

    def _by(self, email: str | None) -> Collaborator:
        people = Collaborator.objects.filter(is_active=True)
        if email:
            by = people.filter(email__iexact=email.strip()).first()
            if by is None:
                raise CommandError(
                    _("Aucun collaborateur actif avec l'adresse « %(email)s ».") % {"email": email},
                    returncode=2,
                )
            return by
        by = (
            people.filter(role=Collaborator.Role.ADMIN).order_by("pk").first()
            or people.order_by("pk").first()
        )
        if by is None:
            raise CommandError(_("Aucun collaborateur actif : créez-en un d'abord."), returncode=2)
        return by

    # -- output ---------------------------------------------------------------------------------

    def _checks(self, checks: list[PresendCheck]) -> None:
        for check in checks:
            number = shown_number(check.about.display_number, check.about.is_credit_note)
            if _to_print(check):
                self.stdout.write(
                    _("  à imprimer %(number)s (%(client)s)")
                    % {"number": number, "client": check.client.display_name}
                )
                continue
            for reason in check.blockers:
                self.stdout.write(
                    _("  bloquée %(number)s (%(client)s) : %(reason)s")
                    % {
                        "number": number,
                        "client": check.client.display_name,
                        "reason": reason,
                    }
                )
            for reason in check.warnings:
                self.stdout.write(
                    _("  attention %(number)s : %(reason)s") % {"number": number, "reason": reason}
                )

    def _summary(self, summary: sending.BatchSummary, *, credit_notes: bool = False) -> None:
        sent, failed = summary.sent, summary.failed
        uncertain, waiting = len(summary.uncertain), summary.waiting
        rows = Invoice.objects.filter(
            pk__in=[
                *summary.blocked,
                *summary.uncertain,
                *summary.to_print,
                *summary.by_status.get(Status.SENT, []),
            ]
        )
        numbers = {
            pk: (year, number, kind)
            for pk, year, number, kind in rows.values_list("pk", "year", "number", "kind")
        }
        if credit_notes:
            sent_notes = sum(
                1
                for pk in summary.by_status.get(Status.SENT, [])
                if numbers.get(pk, (None, None, ""))[2] == Invoice.Kind.CREDIT_NOTE
            )
            sent_text = both(
                ngettext(
                    "%(count)d facture envoyée", "%(count)d factures envoyées", sent - sent_notes
                )
                % {"count": sent - sent_notes},
                ngettext(
                    "%(count)d note de crédit envoyée",
                    "%(count)d notes de crédit envoyées",
                    sent_notes,
                )
                % {"count": sent_notes},
            )
        else:
            sent_text = ngettext(
                "%(count)d facture envoyée", "%(count)d factures envoyées", sent
            ) % {"count": sent}
        if summary.sent_by_peppol:
            # Said only when e-invoices went: a firm that sends none reads what it always read.
            sent_text = _("%(sent)s (%(peppol)s, %(email)s)") % {
                "sent": sent_text,
                # Translators: invoices sent as e-invoices.
                "peppol": ngettext(
                    "%(count)d par Peppol", "%(count)d par Peppol", summary.sent_by_peppol
                )
                % {"count": summary.sent_by_peppol},
                # Translators: invoices sent as a PDF by e-mail.
                "email": ngettext(
                    "%(count)d par e-mail", "%(count)d par e-mail", summary.sent_by_email
                )
                % {"count": summary.sent_by_email},
            }
        if summary.to_print:
            sent_text += ", " + to_print_count(len(summary.to_print))
        self.stdout.write(
            _("Résumé : %(sent)s, %(blocked)s, %(failed)s, %(uncertain)s, %(waiting)s.")
            % {
                "sent": sent_text,
                "blocked": blocked_count(len(summary.blocked)),
                # Translators: invoices, as in "2 invoices failed".
                "failed": ngettext("%(count)d en échec", "%(count)d en échec", failed)
                % {"count": failed},
                # Translators: invoices that may have left; no one knows.
                "uncertain": ngettext("%(count)d incertaine", "%(count)d incertaines", uncertain)
                % {"count": uncertain},
                # Translators: invoices still waiting to be delivered.
                "waiting": ngettext("%(count)d en attente", "%(count)d en attente", waiting)
                % {"count": waiting},
            }
        )

        def shown(pk: int) -> str:
            year, number, kind = numbers.get(pk, (None, None, ""))
            if not number:
                return f"#{pk}"
            return shown_number(f"{year}/{number:04d}", kind == Invoice.Kind.CREDIT_NOTE)

        for pk, reasons in summary.blocked.items():
            self.stdout.write(
                _("  bloquée %(number)s : %(reasons)s")
                % {"number": shown(pk), "reasons": "; ".join(reasons)}
            )
        if summary.to_print:
            self.stdout.write(
                _("  à imprimer (registre papier) : %(numbers)s")
                % {"numbers": ", ".join(shown(pk) for pk in summary.to_print)}
            )
        if summary.uncertain:
            self.stdout.write(
                _(
                    "  incertaines (peut-être parties, jamais renvoyées d'office ; vérifiez puis "
                    "renvoyez avec « @ ») : %(numbers)s"
                )
                % {"numbers": ", ".join(shown(pk) for pk in summary.uncertain)}
            )
