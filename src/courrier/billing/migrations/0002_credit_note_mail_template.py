"""A firm that already mails its invoices gets a mail template for its credit notes.

Until now a credit note went out with the invoice template, which asks for payment. From now
on a credit note takes its company's credit-note template, or the firm's: this gives the firm
one, in the four mail languages, so that its credit notes keep leaving (with the right words).
A firm that mails no invoices yet (no invoice template) gets nothing; nor does a firm that
already has a credit-note template. The texts are frozen here, as they were written."""

from __future__ import annotations

from typing import Any

from django.db import migrations

NAME = "Envoi de note de crédit"

VERSIONS: dict[str, tuple[str, str]] = {
    "fr": (
        "Votre note de crédit {NUMFACT} du {DATEFACT}",
        "{FORMULE},\n\nVeuillez trouver ci-joint notre note de crédit {NUMFACT} du "
        "{DATEFACT}, d'un montant de {MONTANT}, qui corrige notre facture {NUMFACTCREDITEE} du "
        "{DATEFACTCREDITEE}.\n\nCe montant est porté à votre crédit : cette note de crédit "
        "n'appelle aucun paiement de votre part.\n\nBien cordialement,\n{SOCIETEFACTURANTE}",
    ),
    "nl": (
        "Uw creditnota {NUMFACT} van {DATEFACT}",
        "{FORMULE},\n\nIn bijlage vindt u onze creditnota {NUMFACT} van {DATEFACT}, voor een "
        "bedrag van {MONTANT}, die onze factuur {NUMFACTCREDITEE} van {DATEFACTCREDITEE} "
        "corrigeert.\n\nDit bedrag wordt in uw voordeel geboekt: voor deze creditnota hoeft u "
        "niets te betalen.\n\nMet vriendelijke groeten,\n{SOCIETEFACTURANTE}",
    ),
    "de": (
        "Ihre Gutschrift {NUMFACT} vom {DATEFACT}",
        "{FORMULE},\n\nanbei erhalten Sie unsere Gutschrift {NUMFACT} vom {DATEFACT} über "
        "{MONTANT}, die unsere Rechnung {NUMFACTCREDITEE} vom {DATEFACTCREDITEE} berichtigt."
        "\n\nDer Betrag wird Ihnen gutgeschrieben: Für diese Gutschrift ist keine Zahlung zu "
        "leisten.\n\nMit freundlichen Grüßen\n{SOCIETEFACTURANTE}",
    ),
    "en": (
        "Your credit note {NUMFACT} of {DATEFACT}",
        "{FORMULE},\n\nPlease find attached our credit note {NUMFACT} of {DATEFACT} for "
        "{MONTANT}, which corrects our invoice {NUMFACTCREDITEE} of {DATEFACTCREDITEE}.\n\n"
        "This amount is credited to your account: there is nothing to pay for this credit "
        "note.\n\nKind regards,\n{SOCIETEFACTURANTE}",
    ),
}


def add_credit_note_template(apps: Any, schema_editor: Any) -> None:
    MailTemplate = apps.get_model("mailing", "MailTemplate")
    MailTemplateVersion = apps.get_model("mailing", "MailTemplateVersion")
    if not MailTemplate.objects.filter(context="invoice").exists():
        return
    if MailTemplate.objects.filter(context="credit_note").exists():
        return
    template = MailTemplate.objects.create(name=NAME, context="credit_note", owner=None)
    for language, (subject, body) in VERSIONS.items():
        MailTemplateVersion.objects.create(
            template=template, language=language, subject=subject, body=body
        )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("mailing", "0011_template_context_credit_note"),
    ]

    operations = [
        # Backwards, the template stays: it is the firm's now, and may have been edited.
        migrations.RunPython(add_credit_note_template, migrations.RunPython.noop),
    ]
