"""The message bytes move from the outbox row to a table of their own (MessageContent)."""

import django.db.models.deletion
from django.db import migrations, models

COPY = (
    "INSERT INTO mailing_messagecontent (message_id, raw) "
    "SELECT id, raw FROM mailing_outboundmessage"
)
COPY_BACK = (
    "UPDATE mailing_outboundmessage SET raw = (SELECT c.raw FROM mailing_messagecontent c "
    "WHERE c.message_id = mailing_outboundmessage.id)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("mailing", "0007_contexts_links_connections"),
    ]

    operations = [
        migrations.CreateModel(
            name="MessageContent",
            fields=[
                (
                    "message",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="content",
                        serialize=False,
                        to="mailing.outboundmessage",
                    ),
                ),
                ("raw", models.BinaryField()),
            ],
            options={
                "verbose_name": "contenu du message",
                "verbose_name_plural": "contenus des messages",
            },
        ),
        migrations.RunSQL(COPY, COPY_BACK),
        # State only: so that going back re-adds the column with a default for existing rows.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="outboundmessage",
                    name="raw",
                    field=models.BinaryField(default=b""),
                ),
            ]
        ),
        migrations.RemoveField(model_name="outboundmessage", name="raw"),
    ]
