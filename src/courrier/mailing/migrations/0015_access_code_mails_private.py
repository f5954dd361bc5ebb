"""A secure link's code mail is its sender's alone: the code mails stored before, and their
re-sent copies, leave the client file (`archived` off), where every collaborator read them."""

from django.db import migrations
from django.db.models import Q

CODE_PURPOSE = "link-code"
RESEND_PREFIX = "resend:"


def code_mails_private(apps, schema_editor):  # type: ignore[no-untyped-def]
    OutboundMessage = apps.get_model("mailing", "OutboundMessage")
    code_mails = set(
        OutboundMessage.objects.filter(purpose=CODE_PURPOSE).values_list("pk", flat=True)
    )
    found = set(code_mails)
    while found:  # copies of copies, one generation at a time
        purposes = [f"{RESEND_PREFIX}{pk}" for pk in found]
        found = (
            set(OutboundMessage.objects.filter(purpose__in=purposes).values_list("pk", flat=True))
            - code_mails
        )
        code_mails |= found
    OutboundMessage.objects.filter(Q(pk__in=code_mails)).update(archived=False)


class Migration(migrations.Migration):
    dependencies = [("mailing", "0014_peppol_access_points")]

    operations = [migrations.RunPython(code_mails_private, migrations.RunPython.noop)]
