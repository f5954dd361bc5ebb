"""Invoice mails sent before one key scheme: the compose window stored an invoice's mail under
the window's key ("compose:<uuid>") and its batches under theirs ("batch:<pk>:invoice:<id>"),
with the purpose "client", where the register looks for "invoice:<id>:email". The first such
mail of an invoice that the register never mailed takes the invoice's key and purpose, so that
no batch sends that invoice again after the upgrade. The others are left as they are: extra
mails already gone. Going back changes nothing (the keys stay valid keys)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

CONTEXT = "invoice"
PURPOSE = "invoice"


def first_mails_keyed(apps: Any, schema_editor: Any) -> None:
    OutboundMessage = apps.get_model("mailing", "OutboundMessage")
    keyed = set(
        OutboundMessage.objects.filter(
            context=CONTEXT,
            idempotency_key__startswith=f"{CONTEXT}:",
            idempotency_key__endswith=":email",
        ).values_list("idempotency_key", flat=True)
    )
    rows = (
        OutboundMessage.objects.filter(context=CONTEXT, object_id__isnull=False, purpose="client")
        .order_by("created_at", "pk")
        .values_list("pk", "object_id")
    )
    for pk, object_id in rows.iterator():
        key = f"{CONTEXT}:{object_id}:email"
        if key in keyed:
            continue
        OutboundMessage.objects.filter(pk=pk).update(idempotency_key=key, purpose=PURPOSE)
        keyed.add(key)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_admin_labels"),
        ("mailing", "0013_admin_labels_background_tasks"),
    ]

    operations = [migrations.RunPython(first_mails_keyed, migrations.RunPython.noop)]
