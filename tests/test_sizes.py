"""One way to write a size: decimal units, as the providers count their limits, in the
reader's language; a size rounded up, a limit down."""

import json

import pytest
from django.utils import translation

from courrier.sizes import file_size
from courrier.texts import Lines, Size, text_of


@pytest.mark.parametrize(
    ("size", "fr", "nl", "en"),
    [
        (0, "0 o", "0 B", "0 B"),
        (999, "999 o", "999 B", "999 B"),
        (1_001, "2 Ko", "2 kB", "2 kB"),
        (999_999, "1 Mo", "1 MB", "1 MB"),
        (1_500_000, "1,5 Mo", "1,5 MB", "1.5 MB"),
        (22_600_000, "22,6 Mo", "22,6 MB", "22.6 MB"),
        (25_000_001, "25,1 Mo", "25,1 MB", "25.1 MB"),
    ],
)
def test_a_size_in_each_language(size: int, fr: str, nl: str, en: str) -> None:
    assert (file_size(size, "fr"), file_size(size, "nl"), file_size(size, "en")) == (fr, nl, en)
    assert file_size(size, "de") == nl


def test_a_limit_is_rounded_down_and_never_reads_as_a_size_that_passes_it() -> None:
    assert file_size(25_000_000, "fr", limit=True) == "25 Mo"
    assert file_size(20 * 1024 * 1024, "fr", limit=True) == "20,9 Mo"
    assert file_size(25_000_001, "fr") != file_size(25_000_000, "fr", limit=True)


def test_without_a_language_the_page_s_is_used() -> None:
    with translation.override("en"):
        assert file_size(1_500_000) == "1.5 MB"
    with translation.override("nl"):
        assert file_size(1_500_000) == "1,5 MB"


def test_a_size_stored_in_a_sentence_is_written_when_read_in_the_readers_language() -> None:
    stored = json.loads(json.dumps(Lines(Size(1_500_000), Size(25_999_999, limit=True)).as_json()))

    read = text_of(stored)

    with translation.override("fr"):
        assert str(read) == "1,5 Mo\n25,9 Mo"
    with translation.override("en"):
        assert str(read) == "1.5 MB\n25.9 MB"
