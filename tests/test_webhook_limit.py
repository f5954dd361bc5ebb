"""A webhook body over the upload limit: 413 and a one-line warning, no traceback, nothing read."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.test import Client as HTTPClient

from courrier.mailing.models import DeliveryEvent, SendingProfile
from courrier.mailing.services import profile_webhook


def test_a_body_over_the_limit_is_413_with_a_warning_and_no_traceback(
    make_profile: Callable[..., SendingProfile], settings: Any, caplog: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    profile = make_profile(method="sendgrid", api_key="SG.x", webhook_secret="cle")
    path, _hint = profile_webhook(profile=profile)
    token = profile.webhook_token
    caplog.set_level(logging.INFO)

    response = HTTPClient().post(
        path, data=b"[" + b" " * 5000 + b"]", content_type="application/json"
    )

    assert response.status_code == 413
    assert response.content == b"Request body too large."
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert [record.levelname for record in warnings] == ["WARNING"]
    assert warnings[0].exc_info is None
    assert "5002 bytes is over the limit of 1000" in warnings[0].getMessage()
    assert token not in caplog.text
    assert not DeliveryEvent.objects.exists()


def test_a_body_within_the_limit_still_reaches_the_provider_check(
    make_profile: Callable[..., SendingProfile],
) -> None:
    profile = make_profile(method="sendgrid", api_key="SG.x", webhook_secret="cle")
    path, _hint = profile_webhook(profile=profile)
    response = HTTPClient().post(path, data=b"[]", content_type="application/json")
    assert response.status_code == 403  # unsigned: refused by the provider's check, as before
