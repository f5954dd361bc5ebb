"""Light markup in a mail's body: bold, italics, lists, links; never read in a field's value."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from courrier.mailing.fields import fields_for
from courrier.mailing.rendering import Rendered, render

CODES = [field.code for field in fields_for("client")]
P = '<p style="margin:0 0 1em 0">'
LIST_STYLE = 'style="margin:0 0 1em 0;padding-left:1.5em"'
# Every tag the renderer writes, with its attributes (whose values never hold < > or ").
OUR_TAG = re.compile(
    r"<(?:!DOCTYPE html|/?(?:html|head|meta|title|body|p|br|ul|ol|li|strong|em|a|div)"
    r'(?: [a-z-]+="[^"<>]*")*)>'
)


def render_body(body: str, **values: str) -> Rendered:
    present = dict.fromkeys(CODES, "")
    present.update(values)
    return render(subject="Sujet", body=body, values=present, context="client", language="fr")


def body_html(rendered: Rendered) -> str:
    """The part of the HTML document between <body ...> and </body>."""
    found = re.search(r"<body[^>]*>\n(.*)\n</body>", rendered.html, re.DOTALL)
    assert found is not None
    return found.group(1)


def test_bold_and_italics_become_tags_and_leave_the_text_part() -> None:
    rendered = render_body("Un **point important**, une *nuance* et une _autre_, ***les deux***.")

    assert body_html(rendered) == (
        f"{P}Un <strong>point important</strong>, une <em>nuance</em> et une <em>autre</em>, "
        "<strong><em>les deux</em></strong>.</p>"
    )
    assert rendered.text == "Un point important, une nuance et une autre, les deux.\n"


def test_asterisks_and_underscores_that_are_not_markup_stay() -> None:
    rendered = render_body(
        "2*3*4 = 24 ; 5 * 3 ; mon_fichier_final.pdf ; un ** seul ; *pas fermé ; snake_case_"
    )

    assert "<strong>" not in rendered.html and "<em>" not in rendered.html
    assert rendered.text == (
        "2*3*4 = 24 ; 5 * 3 ; mon_fichier_final.pdf ; un ** seul ; *pas fermé ; snake_case_\n"
    )


def test_lists_keep_their_markers_in_the_text_part() -> None:
    body = (
        "Documents à fournir :\n- les extraits **bancaires**\n* les factures d'achat\n\n"
        "Étapes :\n1. rassembler\n2. envoyer\n\n3. vérifier"
    )

    rendered = render_body(body)

    assert body_html(rendered) == (
        f"{P}Documents à fournir :</p>\n"
        f"<ul {LIST_STYLE}>\n<li>les extraits <strong>bancaires</strong></li>\n"
        "<li>les factures d&#x27;achat</li>\n</ul>\n"
        f"{P}Étapes :</p>\n"
        f"<ol {LIST_STYLE}>\n<li>rassembler</li>\n<li>envoyer</li>\n</ol>\n"
        f'<ol start="3" {LIST_STYLE}>\n<li>vérifier</li>\n</ol>'
    )
    # The text part is made from the HTML: a blank line between blocks, one marker per kind.
    assert rendered.text == (
        "Documents à fournir :\n\n- les extraits bancaires\n- les factures d'achat\n\n"
        "Étapes :\n\n1. rassembler\n2. envoyer\n\n3. vérifier\n"
    )


def test_links_are_written_text_then_address_in_the_text_part() -> None:
    rendered = render_body(
        "Voir [le formulaire](https://www.fidu.be/form?a=1&b=2), "
        "[écrivez-nous](mailto:info@fidu.be) ou https://www.fidu.be/mon_dossier_2026."
    )

    html = body_html(rendered)
    assert '<a href="https://www.fidu.be/form?a=1&amp;b=2">le formulaire</a>' in html
    assert '<a href="mailto:info@fidu.be">écrivez-nous</a>' in html
    # A bare address with underscores is one link, not italics.
    assert (
        '<a href="https://www.fidu.be/mon_dossier_2026">https://www.fidu.be/mon_dossier_2026</a>.'
        in html
    )
    assert "<em>" not in html
    assert rendered.text == (
        "Voir le formulaire (https://www.fidu.be/form?a=1&b=2), écrivez-nous "
        "(mailto:info@fidu.be) ou https://www.fidu.be/mon_dossier_2026.\n"
    )


def test_a_bare_address_ending_with_a_field_is_filled_in() -> None:
    """ "https://portail.fidu.be/{NUMCLIENT}": the closing brace is the field's, not punctuation
    after the address; the client reads the address with the value, never the field's code."""
    rendered = render_body(
        "Votre dossier : https://portail.fidu.be/{NOMCLIENT}.", NOMCLIENT="C0042"
    )

    html = body_html(rendered)
    assert '<a href="https://portail.fidu.be/C0042">https://portail.fidu.be/C0042</a>.' in html
    assert rendered.text == "Votre dossier : https://portail.fidu.be/C0042.\n"
    assert "{" not in rendered.text and "}" not in html


def test_links_to_anything_but_the_web_or_mail_stay_plain_text() -> None:
    rendered = render_body(
        "[clic](javascript:alert(1)) [data](data:text/html,x) [fichier](file:///etc/passwd)"
    )

    assert "<a " not in rendered.html
    assert rendered.text == (
        "[clic](javascript:alert(1)) [data](data:text/html,x) [fichier](file:///etc/passwd)\n"
    )


def test_bold_around_a_link_closes_after_the_link() -> None:
    rendered = render_body("**Voir https://www.fidu.be**")

    assert body_html(rendered) == (
        f'{P}<strong>Voir <a href="https://www.fidu.be">https://www.fidu.be</a></strong></p>'
    )


def test_a_value_is_never_read_as_markup() -> None:
    rendered = render_body(
        "Bonjour **{NOMCLIENT}**,\n{CONTACT}",
        NOMCLIENT='**Acme** <b>"&" _x_',
        CONTACT="- pas une liste\n[lien](https://evil.test)",
    )

    html = body_html(rendered)
    assert html == (
        f"{P}Bonjour <strong>**Acme** &lt;b&gt;&quot;&amp;&quot; _x_</strong>,<br>\n"
        '- pas une liste<br>\n[lien](<a href="https://evil.test">https://evil.test</a>)</p>'
    )
    assert rendered.text == (
        'Bonjour **Acme** <b>"&" _x_,\n- pas une liste\n[lien](https://evil.test)\n'
    )


def test_a_field_may_be_the_target_of_a_link_when_it_is_a_web_address() -> None:
    good = render_body("Notre [site]({CABINET_SITE})", CABINET_SITE="https://www.fidu.be")
    bad = render_body("Notre [site]({CABINET_SITE})", CABINET_SITE="javascript:alert(1)")
    quote = render_body("[site]({CABINET_SITE})", CABINET_SITE='https://x.be/"onclick="a()')

    assert '<a href="https://www.fidu.be">site</a>' in good.html
    assert good.text == "Notre site (https://www.fidu.be)\n"
    assert "<a " not in bad.html
    assert "javascript" not in bad.html
    assert bad.text == "Notre site\n"
    assert '<a href="https://x.be/&quot;onclick=&quot;a()">site</a>' in quote.html


def test_a_line_left_empty_by_its_fields_separates_paragraphs_as_in_the_text() -> None:
    rendered = render_body("Bonjour\n{CONTACT}\nSuite", CONTACT="")

    assert body_html(rendered) == f"{P}Bonjour</p>\n{P}Suite</p>"
    assert rendered.text == "Bonjour\n\nSuite\n"


# -- property --------------------------------------------------------------------------------

markup = st.sampled_from(
    ["**", "*", "_", "- ", "* ", "1. ", "\n", "\n\n", "[", "](", ")", "https://x.be/", " "]
)
tokens = st.sampled_from(["{NOMCLIENT}", "{CONTACT}", "{CABINET_SITE}", "{ADRESSE}"])
words = st.text(alphabet="abcé <>\"'&*_[]()-.:/", max_size=12)
# Values full of what HTML and the markup hold dear.
value = st.text(alphabet="<>\"'&*_[]()-.:/ab \nhtps", max_size=30)


@given(
    body=st.lists(st.one_of(markup, tokens, words), max_size=25).map("".join),
    values=st.fixed_dictionaries(
        {"NOMCLIENT": value, "CONTACT": value, "CABINET_SITE": value, "ADRESSE": value}
    ),
)
@example(
    body="https://x.be/{NOMCLIENT}",
    values={"NOMCLIENT": "::", "CONTACT": "", "CABINET_SITE": "", "ADRESSE": ""},
)
def test_no_markup_or_value_ever_yields_a_raw_bracket_or_quote(
    body: str, values: dict[str, Any]
) -> None:
    rendered = render_body(body, **values)

    outside_our_tags = OUR_TAG.sub("", rendered.html)
    assert "<" not in outside_our_tags
    assert ">" not in outside_our_tags
    assert '"' not in outside_our_tags
    # Each value reaches the text part as it is.
    for code, text in values.items():
        if "{" + code + "}" in body and text.strip() and "\n" not in text:
            assert text.strip() in rendered.text
