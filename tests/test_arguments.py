"""Numbers given to the commands: out of range, not a number, or "nan" is refused with a
sentence before the command does anything."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from courrier import arguments


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf", "-inf", "1e9", "cinq", ""])
def test_send_invoices_refuses_a_timeout_that_is_not_a_duration(value: str) -> None:
    with pytest.raises(CommandError, match="n'est pas une durée en secondes"):
        call_command("send_invoices", "--company", "FIDU", f"--timeout={value}")


@pytest.mark.parametrize(
    ("command", "option", "value"),
    [
        ("outbox_status", "--limit", "-1"),
        ("outbox_status", "--limit", "99999999999999999999"),
    ],
)
def test_counts_are_whole_numbers_above_zero(command: str, option: str, value: str) -> None:
    with pytest.raises(CommandError, match="n'est pas un nombre entier de 1 à"):
        call_command(command, option, value)


def test_a_port_is_between_1_and_65535() -> None:
    with pytest.raises(CommandError, match="n'est pas un numéro de port"):
        call_command("seed_demo", "--smtp-port", "-5")


def test_good_values_are_read() -> None:
    assert arguments.seconds(" 2.5 ") == 2.5
    assert arguments.count("30") == 30
    assert arguments.port("8025") == 8025
