from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FirmConfig(AppConfig):
    name = "courrier.firm"
    verbose_name = _("Cabinet")

    def ready(self) -> None:
        from django.core.signals import request_started
        from django.db.models.signals import post_save
        from django_tasks.signals import task_started

        from courrier.amounts import forget_amount_format
        from courrier.firm.models import Firm
        from courrier.firm.production import checks  # noqa: F401 (registers the deploy check)

        # The firm's amount format is read once per request and per task, and again once
        # its settings change (see courrier.amounts).
        request_started.connect(forget_amount_format, dispatch_uid="amounts-request")
        task_started.connect(forget_amount_format, dispatch_uid="amounts-task")
        post_save.connect(forget_amount_format, sender=Firm, dispatch_uid="amounts-firm")
