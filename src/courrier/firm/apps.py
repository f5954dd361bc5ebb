from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FirmConfig(AppConfig):
    name = "courrier.firm"
    verbose_name = _("Cabinet")
