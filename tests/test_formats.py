"""Dates on the pages follow the interface language, the Belgian way."""

from datetime import datetime

from django.utils import formats, translation


def test_english_interface_writes_day_before_month_and_24_hours() -> None:
    moment = datetime(2026, 11, 27, 21, 57)
    with translation.override("en"):
        assert formats.date_format(moment, "SHORT_DATETIME_FORMAT") == "27/11/2026 21:57"
        assert formats.date_format(moment, "DATE_FORMAT") == "27 November 2026"


def test_french_and_dutch_keep_their_own_formats() -> None:
    moment = datetime(2026, 11, 27, 21, 57)
    with translation.override("fr"):
        assert formats.date_format(moment, "SHORT_DATE_FORMAT") == "27/11/2026"
    with translation.override("nl"):
        assert formats.date_format(moment, "SHORT_DATE_FORMAT") == "27/11/2026"
        assert formats.date_format(moment, "DATE_FORMAT") == "27 november 2026"
