"""The languages Courrier speaks: the interface in fr/nl/en, mails in fr/nl/de/en."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class MailLanguage(models.TextChoices):
    FR = "fr", _("français")
    NL = "nl", _("néerlandais")
    DE = "de", _("allemand")
    EN = "en", _("anglais")


class UILanguage(models.TextChoices):
    FR = "fr", _("français")
    NL = "nl", _("néerlandais")
    EN = "en", _("anglais")
