"""`courrier check --deploy` is clean only when the installation really is: a public address
that is not the HTTPS address of an allowed host is reported, as `courrier serve` refuses it."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

pytestmark = pytest.mark.django_db


def deploy_check_warnings() -> str:
    try:
        call_command("check", "--deploy", "--fail-level", "WARNING", "--tag", "security")
    except SystemCheckError as error:
        return str(error)
    return ""


@pytest.mark.parametrize(
    ("public_url", "said"),
    [
        ("", "COURRIER_PUBLIC_URL doit être l'adresse HTTPS publique"),
        ("http://courrier.fidu.be", "COURRIER_PUBLIC_URL doit être l'adresse HTTPS publique"),
        ("https://autre.fidu.be", "L'hôte de COURRIER_PUBLIC_URL (autre.fidu.be)"),
    ],
)
def test_a_wrong_public_address_is_reported(settings: Any, public_url: str, said: str) -> None:
    settings.PUBLIC_URL = public_url
    settings.ALLOWED_HOSTS = ["courrier.fidu.be"]
    report = deploy_check_warnings()
    assert "courrier.W001" in report
    assert said in report


def test_the_right_public_address_is_not_reported(settings: Any) -> None:
    settings.PUBLIC_URL = "https://courrier.fidu.be"
    settings.ALLOWED_HOSTS = ["courrier.fidu.be"]
    assert "courrier.W001" not in deploy_check_warnings()
