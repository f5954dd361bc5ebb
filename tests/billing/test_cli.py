"""`courrier send-invoices`: errors in one line, the dry run, the batch and its summary, with
counts that agree with their number, in the active language (French by default)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from courrier.__main__ import main
from courrier.billing.demo import seed_mail_templates
from courrier.billing.models import Invoice
from courrier.billing.services import credit_note_create, invoice_issue
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.models import OutboundMessage
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_sending import setup  # noqa: F401  (the fixture)
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import make_collaborator


def send(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("send_invoices", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


@pytest.mark.django_db
def test_unknown_company_and_bad_date_are_one_line_errors(
    setup: tuple[BillingCompany, Collaborator],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(CommandError, match="Société facturante inconnue : « NOPE »") as error:
        call_command("send_invoices", "--company", "NOPE")
    assert error.value.returncode == 2
    with pytest.raises(CommandError, match="Date invalide : « 31/03/2026 »"):
        call_command("send_invoices", "--company", "FIDU", "--until", "31/03/2026")
    # The dashed name works from the `courrier` command, with exit code 2.
    monkeypatch.setattr(sys, "argv", ["courrier", "send-invoices", "--company", "NOPE"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "Société facturante inconnue" in err and "Traceback" not in err


@pytest.mark.django_db
def test_dry_run_lists_then_the_batch_sends_once_and_sums_up(
    setup: tuple[BillingCompany, Collaborator],  # noqa: F811
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    company, _anne = setup
    from datetime import date

    sent = [make_invoice(company, make_invoice_client(f"C{n}")) for n in range(3)]
    german = make_invoice(company, make_invoice_client("C9", language="de"))
    after = make_invoice(company, make_invoice_client("C8"), issue_date=date(2026, 5, 1))

    code, out = send("--company", "fidu", "--until", "2026-03-31", "--dry-run")
    assert code == 1
    assert "3 factures à envoyer, 1 bloquée." in out
    assert f"bloquée {german.display_number}" in out and "allemand" in out
    assert "rien n'a été envoyé" in out
    assert smtp_server.messages == [] and OutboundMessage.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        code, out = send("--company", "FIDU", "--until", "2026-03-31")
    assert code == 1  # one blocked
    assert "Résumé : 3 factures envoyées, 1 bloquée, 0 en échec, 0 incertaine, 0 en attente." in out
    assert f"  bloquée {german.display_number} : " in out
    assert len(smtp_server.messages) == 3
    assert {m.object_id for m in OutboundMessage.objects.all()} == {i.pk for i in sent}
    assert after.pk not in {m.object_id for m in OutboundMessage.objects.all()}

    # Again: nothing new is sent.
    with django_capture_on_commit_callbacks(execute=True):
        code, out = send("--company", "FIDU", "--until", "2026-03-31")
    assert "0 facture à envoyer, 1 bloquée." in out
    assert len(smtp_server.messages) == 3


@pytest.mark.django_db
def test_counts_read_as_french_one_then_many(
    setup: tuple[BillingCompany, Collaborator],  # noqa: F811
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    company, _anne = setup
    make_invoice(company, make_invoice_client("C1"))

    _code, out = send("--company", "FIDU", "--dry-run")
    assert f"{company} : 1 facture à envoyer, 0 bloquée.\n" in out
    with django_capture_on_commit_callbacks(execute=True):
        code, out = send("--company", "FIDU")
    assert code == 0
    assert "Préparation 1/1 facture\n" in out and "Envoi 1/1 facture\n" in out
    assert "Résumé : 1 facture envoyée, 0 bloquée, 0 en échec, 0 incertaine, 0 en attente.\n" in out

    for code_of_client in ("C2", "C3"):
        make_invoice(company, make_invoice_client(code_of_client))
    for code_of_client in ("C8", "C9"):
        make_invoice(company, make_invoice_client(code_of_client, language="de"))
    _code, out = send("--company", "FIDU", "--dry-run")
    assert f"{company} : 2 factures à envoyer, 2 bloquées.\n" in out
    with django_capture_on_commit_callbacks(execute=True):
        code, out = send("--company", "FIDU")
    assert code == 1  # two blocked
    assert "Envoi 2/2 factures\n" in out
    assert "Résumé : 2 factures envoyées, 2 bloquées, 0 en échec, 0 incertaine" in out
    assert "facture(s)" not in out and "(s)" not in out
    assert len(smtp_server.messages) == 3


@pytest.mark.django_db
def test_the_command_speaks_the_active_language(
    setup: tuple[BillingCompany, Collaborator],  # noqa: F811
) -> None:
    company, _anne = setup
    make_invoice(company, make_invoice_client("C1"))
    make_invoice(company, make_invoice_client("C9", language="de"))

    with translation.override("nl"):
        code, out = send("--company", "FIDU", "--dry-run")

    assert code == 1
    assert f"{company}: 1 factuur te versturen, 1 geblokkeerd.\n" in out
    assert "Alleen controle (--dry-run): er is niets verstuurd." in out
    assert "à envoyer" not in out and "bloquée" not in out  # (the template's name is data)


@pytest.fixture
def with_credit_notes(
    smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]
) -> tuple[BillingCompany, list[Invoice], list[Invoice]]:
    """Two invoices and a credit note ready to go, and a credit note no one can receive."""
    company = make_billing_company()
    make_profile(server=smtp_server, billing_company=company, collaborator=None)
    seed_mail_templates(companies={"FIDU": company})
    make_collaborator()
    first = make_invoice(company, make_invoice_client("C1", emails=("c1@client.test",)))
    second = make_invoice(company, make_invoice_client("C2", emails=("c2@client.test",)))
    lost = make_invoice(company, make_invoice_client("C3", emails=("c3@client.test",)))
    notes = [
        invoice_issue(invoice=credit_note_create(invoice=invoice, by=None), by=None)
        for invoice in (first, lost)
    ]
    # Issued for the e-mail register, then the client's address was taken away.
    lost.client.emails.all().delete()
    return company, [first, second, lost], notes


@pytest.mark.django_db
def test_credit_notes_are_counted_as_credit_notes_not_as_invoices(
    with_credit_notes: tuple[BillingCompany, list[Invoice], list[Invoice]],
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    company, (_first, _second, lost), (note, lost_note) = with_credit_notes

    code, out = send("--company", "FIDU", "--dry-run")
    assert code == 1
    assert f"{company} : 2 factures et 1 note de crédit à envoyer, 2 bloquées.\n" in out
    assert f"  bloquée {lost.display_number} (" in out
    assert f"  bloquée note de crédit {lost_note.display_number} (" in out

    with django_capture_on_commit_callbacks(execute=True):
        code, out = send("--company", "FIDU")
    assert code == 1  # two blocked
    assert "Préparation 3/5 factures et notes de crédit\n" in out
    assert "Envoi 3/3 factures et notes de crédit\n" in out
    assert (
        "Résumé : 2 factures envoyées et 1 note de crédit envoyée, 2 bloquées, 0 en échec, "
        "0 incertaine, 0 en attente.\n"
    ) in out
    assert f"  bloquée note de crédit {lost_note.display_number} : " in out
    assert "3 factures envoyées" not in out and "5/5 factures\n" not in out
    # What arrived: two invoices and the credit note, each under its own words.
    subjects = sorted(str(received.message["Subject"]) for received in smtp_server.messages)
    assert len(subjects) == 3
    assert sum(note.display_number in subject for subject in subjects) == 1


@pytest.mark.django_db
def test_an_english_colleague_reads_the_credit_notes_counted_apart(
    with_credit_notes: tuple[BillingCompany, list[Invoice], list[Invoice]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    company, _invoices, (_note, lost_note) = with_credit_notes

    with translation.override("en"):
        code, out = send("--company", "FIDU", "--dry-run")
        assert f"{company}: 2 invoices and 1 credit note to send, 2 blocked.\n" in out
        assert f"  blocked credit note {lost_note.display_number} (" in out
        with django_capture_on_commit_callbacks(execute=True):
            code, out = send("--company", "FIDU")
    assert code == 1
    assert "Sending 3/3 invoices and credit notes\n" in out
    assert "Summary: 2 invoices sent and 1 credit note sent, 2 blocked, 0 failed" in out
    assert "factures" not in out and "note de crédit" not in out
