"""Signatures become sanitised HTML, written in the rich-text editor like bodies.

A signature typed before (plain text, sent as written) is taken line by line: a paragraph per
run of lines between blank lines, a line break per line, every character escaped — no light
markup is read, so a "*" stays a "*". The mail keeps its lines. Going back writes the text the
mail's text part shows (its lines again; a link as "text (address)")."""

from __future__ import annotations

from typing import Any

from django.db import migrations

LANGUAGES = ("fr", "nl", "de", "en")
FIELDS = [f"signature_{language}" for language in LANGUAGES]
MODELS = ("Collaborator", "BillingCompany")
CHUNK = 500


def _convert(apps: Any, convert: Any) -> None:
    for model_name in MODELS:
        model = apps.get_model("firm", model_name)
        changed = []
        for row in model.objects.only("pk", *FIELDS).iterator(chunk_size=CHUNK):
            dirty = False
            for field in FIELDS:
                value = getattr(row, field)
                new = convert(value)
                if new != value:
                    setattr(row, field, new)
                    dirty = True
            if dirty:
                changed.append(row)
            if len(changed) >= CHUNK:
                model.objects.bulk_update(changed, FIELDS)
                changed = []
        if changed:
            model.objects.bulk_update(changed, FIELDS)


def to_html(apps: Any, schema_editor: Any) -> None:
    from courrier.mailing import richtext

    # Before this migration every signature is plain text, even one that looks like HTML.
    _convert(apps, richtext.text_html)


def to_text(apps: Any, schema_editor: Any) -> None:
    from courrier.mailing import richtext

    def back(value: str) -> str:
        if not value.lstrip().startswith("<"):
            return value
        return richtext.text_of(richtext.blocks_of(value))

    _convert(apps, back)


class Migration(migrations.Migration):
    dependencies = [
        ("firm", "0006_company_credit_note_template"),
    ]

    operations = [migrations.RunPython(to_html, to_text, elidable=False)]
