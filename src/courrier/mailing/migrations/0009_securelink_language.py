"""A secure link remembers the language of the mail that carried it; existing links take
their message's language, else their client's (French when neither is a mail language)."""

from django.db import migrations, models

MAIL_LANGUAGES = ("fr", "nl", "de", "en")


def fill_languages(apps, schema_editor):
    SecureLink = apps.get_model("mailing", "SecureLink")
    links = SecureLink.objects.select_related("message", "client").only(
        "pk", "message__language", "client__language"
    )
    for link in links.iterator():
        candidates = (link.message.language if link.message_id else "", link.client.language)
        language = next((code for code in candidates if code in MAIL_LANGUAGES), "fr")
        SecureLink.objects.filter(pk=link.pk).update(language=language)


class Migration(migrations.Migration):
    dependencies = [
        ("mailing", "0008_message_content"),
    ]

    operations = [
        migrations.AddField(
            model_name="securelink",
            name="language",
            field=models.CharField(
                choices=[
                    ("fr", "français"),
                    ("nl", "néerlandais"),
                    ("de", "allemand"),
                    ("en", "anglais"),
                ],
                default="fr",
                max_length=2,
                verbose_name="langue",
            ),
            preserve_default=False,
        ),
        migrations.RunPython(fill_languages, migrations.RunPython.noop),
    ]
