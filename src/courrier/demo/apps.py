from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """The demo: `courrier demo`, its seed data and the mailbox of its local SMTP catcher."""

    name = "courrier.demo"
    label = "demo"
    verbose_name = _("Démonstration")
