"""A client's Peppol identifier as a colleague types it: written many ways, stored one way,
refused with a sentence that says how to write it, in the reader's language."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from courrier.peppol.identifiers import normalise_peppol_id, peppol_id_of_company


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("0208:0403170701", "0208:0403170701"),
        ("0208:0403.170.701", "0208:0403170701"),
        (" 0208 : 0403 170 701 ", "0208:0403170701"),
        ("iso6523-actorid-upis::0208:0403170701", "0208:0403170701"),
        ("9925:BE0403170701", "9925:BE0403170701"),
        ("9925:be 0403.170.701", "9925:BE0403170701"),
        ("0088:5412345000013", "0088:5412345000013"),
    ],
)
def test_the_ways_it_is_written_are_stored_one_way(typed: str, stored: str) -> None:
    assert normalise_peppol_id(typed) == stored


def test_a_belgian_company_is_reached_by_its_enterprise_number() -> None:
    assert peppol_id_of_company("BE 0403.170.701") == "0208:0403170701"


@pytest.mark.parametrize(
    ("typed", "code", "said"),
    [
        ("0403170701", "peppol_format", "s'écrit schéma:numéro"),
        ("0208:", "peppol_format", "s'écrit schéma:numéro"),
        ("0208:0403170702", "enterprise_number", "modulo 97"),
        ("1234:0403170701", "peppol_scheme", "liste officielle Peppol"),
        ("9925:NL004495445B01", "peppol_vat", "numéro de TVA belge"),
        ("0088:54 12<script>", "peppol_number", "n'est pas un numéro valide"),
    ],
)
def test_what_is_wrong_is_said(typed: str, code: str, said: str) -> None:
    with translation.override("fr"), pytest.raises(ValidationError) as caught:
        normalise_peppol_id(typed)
    assert caught.value.code == code
    assert said in caught.value.messages[0]


def test_the_sentence_is_in_the_readers_language() -> None:
    for language, words in (("nl", "schema:nummer"), ("en", "scheme:number")):
        with translation.override(language), pytest.raises(ValidationError) as caught:
            normalise_peppol_id("0403170701")
        assert words in caught.value.messages[0]


@given(st.text(max_size=60))
def test_any_text_is_stored_checked_or_refused_never_a_crash(typed: str) -> None:
    try:
        stored = normalise_peppol_id(typed)
    except ValidationError:
        return
    scheme, _sep, number = stored.partition(":")
    assert len(scheme) == 4 and number and " " not in stored
    assert normalise_peppol_id(stored) == stored
