"""Rendering a template: fields replaced, unknown ones refused, both parts safe to send."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from courrier.clients.models import Client
from courrier.mailing.fields import client_values, fields_for
from courrier.mailing.rendering import TOKEN_RE, Rendered, check_fields, render

CODES = [field.code for field in fields_for("client")]
KNOWN_TOKEN = re.compile(r"\{(" + "|".join(CODES) + r")\}")
OUR_TAGS = {
    *("!DOCTYPE", "html", "head", "meta", "title", "body", "p", "br", "a", "div"),
    *("strong", "em", "ul", "ol", "li"),  # the light markup of a body
}


def make_client(**extra: Any) -> Client:
    fields: dict[str, Any] = {"number": "C0042", "name": "Boulangerie Dupont", "legal_form": "SRL"}
    fields.update(extra)
    return Client.objects.create(**fields)


def render_client(body: str, subject: str = "Bonjour", **options: Any) -> Rendered:
    values = {code: "" for code in CODES}
    values.update(options.pop("values", {}))
    options.setdefault("language", "fr")
    return render(subject=subject, body=body, values=values, context="client", **options)


def tags(html: str) -> set[str]:
    return {name.lstrip("/") for name in re.findall(r"<(/?[!A-Za-z]+)", html)}


def test_fields_are_replaced_in_subject_text_and_html(db: None) -> None:
    client = make_client(salutation="Chère Madame Dupont", language="fr")
    values = client_values(client=client, sender=None, language="fr", today=date(2026, 12, 31))

    rendered = render(
        subject="Votre dossier {NUMCLIENT} au {DATE}",
        body="{FORMULE},\n\nVoici le dossier de {NOMCLIENT}.",
        values=values,
        context="client",
        language="fr",
    )

    assert rendered.subject == "Votre dossier C0042 au 31/12/2026"
    assert rendered.text == "Chère Madame Dupont,\n\nVoici le dossier de Boulangerie Dupont SRL.\n"
    assert '<p style="margin:0 0 1em 0">Chère Madame Dupont,</p>' in rendered.html
    assert "Voici le dossier de Boulangerie Dupont SRL.</p>" in rendered.html
    assert rendered.language == "fr"


def test_the_html_part_is_a_small_complete_document() -> None:
    rendered = render_client("Ligne un\nligne deux\n\nDeuxième paragraphe", language="nl")

    assert rendered.html.startswith('<!DOCTYPE html>\n<html lang="nl">')
    assert '<meta charset="utf-8">' in rendered.html
    assert "<title>Bonjour</title>" in rendered.html
    assert "Ligne un<br>\nligne deux</p>" in rendered.html
    assert ">Deuxième paragraphe</p>" in rendered.html
    assert rendered.html.rstrip().endswith("</html>")
    # Inline styling only: no stylesheet, no script, nothing fetched from elsewhere.
    assert "<link" not in rendered.html and "<style" not in rendered.html
    assert "<script" not in rendered.html and "src=" not in rendered.html


def test_a_malicious_name_is_escaped_in_html_and_kept_raw_in_text(db: None) -> None:
    client = make_client(name="<script>alert(1)</script>", legal_form="")
    values = client_values(client=client, sender=None, language="fr", today=date(2026, 1, 2))

    rendered = render(
        subject="Pour {NOMCLIENT}",
        body="Cher client {NOMCLIENT},",
        values=values,
        context="client",
        language="fr",
    )

    assert rendered.text == "Cher client <script>alert(1)</script>,\n"
    assert rendered.subject == "Pour <script>alert(1)</script>"
    assert "<script>" not in rendered.html
    assert "Cher client &lt;script&gt;alert(1)&lt;/script&gt;," in rendered.html
    assert "<title>Pour &lt;script&gt;alert(1)&lt;/script&gt;</title>" in rendered.html


def test_apostrophes_and_ampersands_are_escaped_in_html_only(db: None) -> None:
    client = make_client(name="O'Brien & Fils", legal_form="SA")
    values = client_values(client=client, sender=None, language="fr", today=date(2026, 1, 2))

    rendered = render(
        subject="{NOMCLIENT}", body="{NOMCLIENT}", values=values, context="client", language="fr"
    )

    assert rendered.text == "O'Brien & Fils SA\n"
    assert rendered.subject == "O'Brien & Fils SA"
    assert "O&#x27;Brien &amp; Fils SA</p>" in rendered.html
    assert "O'Brien" not in rendered.html


def test_html_typed_in_the_template_is_shown_not_interpreted() -> None:
    rendered = render_client('Voir <b onclick="x()">ceci</b> & cela')

    assert "Voir &lt;b onclick=&quot;x()&quot;&gt;ceci&lt;/b&gt; &amp; cela" in rendered.html
    assert tags(rendered.html) <= OUR_TAGS


def test_web_and_mail_addresses_become_links() -> None:
    rendered = render_client(
        "Le formulaire : https://www.fidu.be/form?a=1&b=2. Ou www.fidu.be, ou écrivez à "
        "info@fidu.be. Voir https://fr.wikipedia.org/wiki/TVA_(Belgique)"
    )

    html = rendered.html
    assert (
        '<a href="https://www.fidu.be/form?a=1&amp;b=2">https://www.fidu.be/form?a=1&amp;b=2</a>.'
        in html
    )
    assert '<a href="https://www.fidu.be">www.fidu.be</a>,' in html
    assert '<a href="mailto:info@fidu.be">info@fidu.be</a>.' in html
    assert (
        '<a href="https://fr.wikipedia.org/wiki/TVA_(Belgique)">'
        "https://fr.wikipedia.org/wiki/TVA_(Belgique)</a>" in html
    )
    # The text part keeps the addresses as written.
    assert "https://www.fidu.be/form?a=1&b=2." in rendered.text


def test_only_web_links_are_made_clickable() -> None:
    rendered = render_client("javascript:alert(1) et data:text/html,<b>x</b>")

    assert "<a " not in rendered.html


def test_a_link_with_a_quote_cannot_break_out_of_its_attribute() -> None:
    rendered = render_client("https://x.be/'onmouseover='alert(1)")

    assert 'href="https://x.be/&#x27;onmouseover=&#x27;alert(1)"' in rendered.html
    assert tags(rendered.html) <= OUR_TAGS


def test_the_signature_ends_both_parts() -> None:
    rendered = render_client(
        "Bien à vous,\n", signature="Anne Martin\nFiduciaire Martin & Associés\r\n"
    )

    assert rendered.text == "Bien à vous,\n\n-- \nAnne Martin\nFiduciaire Martin & Associés\n"
    assert '<div class="signature"' in rendered.html
    assert (
        '-- </p>\n<p style="margin:0 0 1em 0">Anne Martin<br>\nFiduciaire Martin &amp; Associés'
        "</p></div>"
    ) in rendered.html


def test_windows_line_endings_are_normalised() -> None:
    rendered = render_client("Un\r\ndeux\r\n\r\ntrois")

    assert rendered.text == "Un\ndeux\n\ntrois\n"
    assert "\r" not in rendered.html


def test_braces_that_are_not_fields_stay_plain_text() -> None:
    rendered = render_client("Voir {voir annexe}, {lowercase}, {Nom} et {} ; {NOMCLIENT")

    assert rendered.text == "Voir {voir annexe}, {lowercase}, {Nom} et {} ; {NOMCLIENT\n"
    assert "Voir {voir annexe}, {lowercase}, {Nom} et {} ; {NOMCLIENT</p>" in rendered.html
    check_fields("{voir annexe} {lowercase}", context="client")


def test_an_unknown_field_names_the_nearest_known_one() -> None:
    with pytest.raises(ValidationError) as caught:
        check_fields("Bonjour {NOMCLIEN}", context="client")

    assert caught.value.messages == ["Champ inconnu {NOMCLIEN} : vouliez-vous dire {NOMCLIENT} ?"]


def test_every_unknown_field_is_reported_once() -> None:
    with pytest.raises(ValidationError) as caught:
        check_fields("{NUMFACT} {ADRESE} {XYZZY} {ADRESE}", context="client")

    assert caught.value.messages == [
        "Champ inconnu {NUMFACT} : vouliez-vous dire {NUMCLIENT} ?",
        "Champ inconnu {ADRESE} : vouliez-vous dire {ADRESSE} ?",
        "Champ inconnu {XYZZY}.",
    ]


def test_render_refuses_unknown_fields_in_subject_and_body() -> None:
    with pytest.raises(ValidationError) as caught:
        render_client("Cher {CONTAKT}", subject="Dossier {NUMCLIENTS}")

    assert caught.value.messages == [
        "Champ inconnu {NUMCLIENTS} : vouliez-vous dire {NUMCLIENT} ?",
        "Champ inconnu {CONTAKT} : vouliez-vous dire {CONTACT} ?",
    ]


def test_an_unknown_context_is_a_clear_error() -> None:
    with pytest.raises(ValidationError) as caught:
        check_fields("{NOMCLIENT}", context="nowhere")

    assert "nowhere" in caught.value.messages[0]


@pytest.mark.parametrize("subject", ["Bonjour\r\nBcc: x@evil.test", "Bonjour\nsuite", "A\x00B"])
def test_a_line_break_typed_in_the_subject_is_refused(subject: str) -> None:
    with pytest.raises(ValidationError) as caught:
        render_client("Corps", subject=subject)

    assert caught.value.messages == [
        "Le sujet ne peut pas contenir de retour à la ligne ni de caractère de contrôle."
    ]


def test_line_breaks_from_data_are_collapsed_in_the_subject() -> None:
    rendered = render_client(
        "{ADRESSECOMPLETE}",
        subject="Adresse : {ADRESSECOMPLETE}",
        values={"ADRESSECOMPLETE": "Rue de la Loi 16\r\nBcc: x@evil.test\n1000\tBruxelles"},
    )

    assert rendered.subject == "Adresse : Rue de la Loi 16 Bcc: x@evil.test 1000 Bruxelles"
    # In the body the value keeps its lines.
    assert rendered.text == "Rue de la Loi 16\nBcc: x@evil.test\n1000\tBruxelles\n"
    assert "Rue de la Loi 16<br>\nBcc: <a href=" in rendered.html


def test_empty_values_are_rendered_and_reported() -> None:
    rendered = render_client(
        "{CONTACT} {NOMCLIENT} {CONTACT} {EXPEDITEUR}",
        subject="{NUMTVA}",
        values={"NOMCLIENT": "Dupont", "EXPEDITEUR": "   "},
    )

    # The spaces around empty fields start the paragraph: they show nothing, in either part.
    assert rendered.text == "Dupont\n"
    assert rendered.empty_fields == ["NUMTVA", "CONTACT", "EXPEDITEUR"]


def test_a_value_holding_a_field_code_is_not_expanded_again() -> None:
    rendered = render_client("{NOMCLIENT}", values={"NOMCLIENT": "{NUMCLIENT}", "NUMCLIENT": "X"})

    assert rendered.text == "{NUMCLIENT}\n"


# -- properties -----------------------------------------------------------------------------

known_tokens = st.sampled_from([f"{{{code}}}" for code in CODES])
plain_braces = st.sampled_from(["{voir annexe}", "{lowercase}", "{}", "{", "}"])
any_text = st.text(max_size=40)
any_values = st.dictionaries(st.sampled_from(CODES), st.text(max_size=30))


@given(
    subject=st.lists(st.one_of(any_text, known_tokens, plain_braces), max_size=6).map("".join),
    body=st.lists(st.one_of(any_text, known_tokens, plain_braces), max_size=10).map("".join),
    values=any_values,
    signature=any_text,
    language=st.sampled_from(["fr", "nl", "de", "en"]),
)
def test_any_input_renders_safely_or_is_refused_clearly(
    subject: str, body: str, values: dict[str, str], signature: str, language: str
) -> None:
    try:
        rendered = render(
            subject=subject,
            body=body,
            values=values,
            context="client",
            language=language,
            signature=signature,
        )
    except ValidationError as exc:
        assert exc.messages
        return

    assert "\r" not in rendered.subject and "\n" not in rendered.subject
    assert not any(unicodedata.category(char) == "Cc" for char in rendered.subject)
    assert "\r" not in rendered.text
    assert tags(rendered.html) <= OUR_TAGS
    assert set(rendered.empty_fields) <= set(CODES)


# Chunks without "}" and values without braces: every "}" that reaches the output then
# closes a token typed in the template, so a known token in the output can only be one
# the renderer failed to replace.
chunk_without_closing_brace = st.text(max_size=40).map(lambda text: text.replace("}", ""))
value_without_braces = st.text(max_size=30).map(lambda text: text.replace("{", "").replace("}", ""))


@given(
    body=st.lists(
        st.one_of(chunk_without_closing_brace, known_tokens, st.just("{voir annexe}")),
        max_size=12,
    ).map("".join),
    values=st.dictionaries(st.sampled_from(CODES), value_without_braces),
)
def test_no_known_field_is_left_unreplaced(body: str, values: dict[str, str]) -> None:
    rendered = render(
        subject="".join(
            char for char in body if unicodedata.category(char) not in ("Cc", "Zl", "Zp")
        ),
        body=body,
        values=values,
        context="client",
        language="fr",
    )

    for output in (rendered.subject, rendered.text, rendered.html):
        assert KNOWN_TOKEN.search(output) is None
    assert re.search(TOKEN_RE, rendered.text) is None


# -- fields written in small letters or with spaces --------------------------------------------


@pytest.mark.parametrize(
    "written", ["{nomclient}", "{NomClient}", "{ NOMCLIENT }", "{\tnomClient }"]
)
def test_a_field_in_any_case_or_with_spaces_is_the_field(written: str) -> None:
    rendered = render_client(f"Dossier {written}.", subject=f"Pour {written}", values=VALUES)

    assert rendered.subject == "Pour Dupont SRL"
    assert rendered.text == "Dossier Dupont SRL.\n"
    check_fields(written, context="client")


def test_accents_typed_in_a_code_are_read_without_them() -> None:
    rendered = render_client("{Formulé}", values={"FORMULE": "Chère Madame"})

    assert rendered.text == "Chère Madame\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{nomclien}", "Champ inconnu {nomclien} : vouliez-vous dire {NOMCLIENT} ?"),
        ("{ NomClien }", "Champ inconnu {NomClien} : vouliez-vous dire {NOMCLIENT} ?"),
        ("{ NOMCLIEN }", "Champ inconnu {NOMCLIEN} : vouliez-vous dire {NOMCLIENT} ?"),
        ("{contakt}", "Champ inconnu {contakt} : vouliez-vous dire {CONTACT} ?"),
        ("{nom_client}", "Champ inconnu {nom_client} : vouliez-vous dire {NOMCLIENT} ?"),
    ],
)
def test_a_mistyped_field_in_small_letters_is_refused_with_the_nearest_code(
    text: str, message: str
) -> None:
    with pytest.raises(ValidationError) as at_save:
        check_fields(f"Bonjour {text}", context="client")
    with pytest.raises(ValidationError) as at_render:
        render_client(f"Bonjour {text}")

    assert at_save.value.messages == [message]
    assert at_render.value.messages == [message]


@pytest.mark.parametrize(
    "text", ["{voir annexe}", "{bonjour}", "{client}", "{Nom}", "{1}", "{?date:date limite}"]
)
def test_other_words_in_braces_stay_plain_text(text: str) -> None:
    check_fields(text, context="client")

    assert render_client(f"Voir {text}").text == f"Voir {text}\n"


VALUES = {"NOMCLIENT": "Dupont SRL"}
spellings = st.sampled_from(CODES).flatmap(
    lambda code: st.tuples(
        st.sampled_from(["", " ", "\t"]),
        st.lists(st.booleans(), min_size=len(code), max_size=len(code)),
        st.sampled_from(["", " "]),
    ).map(
        lambda parts: (
            "{"
            + parts[0]
            + "".join(
                char.lower() if low else char for char, low in zip(code, parts[1], strict=True)
            )
            + parts[2]
            + "}"
        )
    )
)


@given(
    body=st.lists(
        st.one_of(
            st.text(max_size=20).map(lambda t: t.replace("{", "").replace("}", "")), spellings
        ),
        max_size=10,
    ).map("".join),
    values=st.dictionaries(st.sampled_from(CODES), value_without_braces),
)
def test_no_field_in_any_spelling_is_sent_as_typed(body: str, values: dict[str, str]) -> None:
    rendered = render(subject="Bonjour", body=body, values=values, context="client", language="fr")

    # The template's only braces were fields, and the values have none: none may be left.
    assert "{" not in rendered.text and "}" not in rendered.text


def test_a_field_with_no_break_spaces_in_a_body_s_html_is_the_field() -> None:
    rendered = render_client("<p>Dossier {&nbsp;nomclient\u00a0}.</p>", values=VALUES)

    assert rendered.text == "Dossier Dupont SRL.\n"
