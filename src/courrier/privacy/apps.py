from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    name = "courrier.privacy"
    verbose_name = _("Protection des données")

    def ready(self) -> None:
        from courrier.audit import audit_register

        audit_register()
