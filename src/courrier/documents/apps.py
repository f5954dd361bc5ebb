from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DocumentsConfig(AppConfig):
    name = "courrier.documents"
    verbose_name = _("Documents")

    def ready(self) -> None:
        from courrier.documents import contexts as document_contexts
        from courrier.documents.fields import DOCUMENT_FIELDS
        from courrier.mailing import contexts
        from courrier.mailing.fields import CLIENT_FIELDS, CONTEXT_FIELDS

        CONTEXT_FIELDS[document_contexts.DOCUMENT] = [*CLIENT_FIELDS, *DOCUMENT_FIELDS]
        contexts.register(document_contexts.DOCUMENT, document_contexts.document_contexts)
