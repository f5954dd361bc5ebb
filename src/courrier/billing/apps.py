from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "courrier.billing"
    verbose_name = _("Facturation")

    def ready(self) -> None:
        from courrier.billing.fields import (
            CREDIT_NOTE_TEMPLATES,
            INVOICE_CONTEXT,
            INVOICE_FIELDS,
            resolve_invoices,
        )
        from courrier.billing.services.sending import INVOICE_BATCH, PURPOSE_EMAIL, PURPOSE_RESEND
        from courrier.billing.tasks import courtesy_copies_enqueue
        from courrier.mailing import contexts
        from courrier.mailing.fields import CLIENT_FIELDS, CONTEXT_FIELDS

        CONTEXT_FIELDS[INVOICE_CONTEXT] = [*CLIENT_FIELDS, *INVOICE_FIELDS]
        # A credit note's template has the same fields; its mail is an invoice's mail (its
        # context, its register, its resolver), only its words differ.
        CONTEXT_FIELDS[CREDIT_NOTE_TEMPLATES] = [*CLIENT_FIELDS, *INVOICE_FIELDS]
        # An invoice reaches its client once, whatever sends it (the register's batch, "@", the
        # send on issue, the compose window): one key scheme for all (contexts.mail_key).
        contexts.register(
            INVOICE_CONTEXT,
            resolve_invoices,
            once=contexts.SentOnce(purpose=PURPOSE_EMAIL, resend_purpose=PURPOSE_RESEND),
            # What a batch of invoices needs besides their mails: the PDFs made before a
            # round and recorded with it, each company's template.
            batch=INVOICE_BATCH,
            # Once an e-invoice is delivered, its courtesy copy by e-mail, for the clients
            # who asked for one (a task: the webhook or the polling run answers at once).
            delivered=courtesy_copies_enqueue,
        )
