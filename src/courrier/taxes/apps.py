from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TaxesConfig(AppConfig):
    name = "courrier.taxes"
    verbose_name = _("Suivi fiscal")
