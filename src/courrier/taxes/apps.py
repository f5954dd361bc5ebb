from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TaxesConfig(AppConfig):
    name = "courrier.taxes"
    verbose_name = _("Suivi fiscal")

    def ready(self) -> None:
        from courrier.mailing import contexts
        from courrier.mailing.fields import CLIENT_FIELDS, CONTEXT_FIELDS
        from courrier.taxes import contexts as tax_contexts
        from courrier.taxes import fields

        CONTEXT_FIELDS[tax_contexts.VAT] = [*CLIENT_FIELDS, *fields.VAT_FIELDS]
        CONTEXT_FIELDS[tax_contexts.ISOC] = [*CLIENT_FIELDS, *fields.ISOC_FIELDS]
        CONTEXT_FIELDS[tax_contexts.IPP] = [*CLIENT_FIELDS, *fields.IPP_FIELDS]
        CONTEXT_FIELDS[tax_contexts.BNB] = [*CLIENT_FIELDS, *fields.BNB_FIELDS]
        contexts.register(tax_contexts.VAT, tax_contexts.vat_contexts)
        contexts.register(tax_contexts.ISOC, tax_contexts.isoc_contexts)
        contexts.register(tax_contexts.IPP, tax_contexts.ipp_contexts)
        contexts.register(tax_contexts.BNB, tax_contexts.bnb_contexts)
