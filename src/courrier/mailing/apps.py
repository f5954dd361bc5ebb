from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MailingConfig(AppConfig):
    name = "courrier.mailing"
    verbose_name = _("Courrier")
