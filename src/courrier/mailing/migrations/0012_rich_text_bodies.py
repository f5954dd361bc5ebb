"""Bodies become sanitised HTML: templates, standard phrases and the stored text of batches,
written before in the light markup (**bold**, *italics*, "- " lists, [text](address)), are
converted by the very reader of that markup, their fields kept as {CODE}. Going back writes
the light markup again (underlining and tables are then plain text)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

# (model, field) whose text is a body.
BODIES = (("MailTemplateVersion", "body"), ("PhraseVersion", "text"), ("MailBatch", "body"))
CHUNK = 500


def _convert(apps: Any, convert: Any) -> None:
    for model_name, field in BODIES:
        model = apps.get_model("mailing", model_name)
        changed = []
        for row in model.objects.only("pk", field).iterator(chunk_size=CHUNK):
            value = getattr(row, field)
            new = convert(value)
            if new != value:
                setattr(row, field, new)
                changed.append(row)
            if len(changed) >= CHUNK:
                model.objects.bulk_update(changed, [field])
                changed = []
        if changed:
            model.objects.bulk_update(changed, [field])


def to_html(apps: Any, schema_editor: Any) -> None:
    from courrier.mailing.rendering import markup_html

    _convert(apps, markup_html)


def to_markup(apps: Any, schema_editor: Any) -> None:
    from courrier.mailing import richtext

    def back(value: str) -> str:
        if not value.lstrip().startswith("<"):
            return value
        return richtext.text_of(richtext.blocks_of(value), markup=True)

    _convert(apps, back)


class Migration(migrations.Migration):
    dependencies = [
        ("mailing", "0011_template_context_credit_note"),
        # Its credit-note template is written in the light markup: converted here too.
        ("billing", "0002_credit_note_mail_template"),
    ]

    operations = [migrations.RunPython(to_html, to_markup, elidable=False)]
