"""Three permissions of the invoices (issue, delete a draft, send) and the group "Facturation"
that holds them. The collaborators of an installation that upgrades join the group, so that
nothing changes for them; a collaborator created later holds none until an administrator
ticks "Facturation" on their page."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Facturation"
CODENAMES = ("issue_invoice", "delete_draft", "send_invoices")


def billing_group(apps, schema_editor):  # type: ignore[no-untyped-def]
    # The permissions are made after the migrations, by post_migrate: make them now.
    billing = apps.get_app_config("billing")
    models_module = getattr(billing, "models_module", None)
    billing.models_module = models_module or True  # a migration's app has none: it is asked
    create_permissions(billing, apps=apps, verbosity=0)
    billing.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Collaborator = apps.get_model("firm", "Collaborator")
    group, _created = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="billing", codename__in=CODENAMES)
    )
    group.user_set.add(*Collaborator.objects.values_list("pk", flat=True))


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0006_invoice_ubl_findings"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("firm", "0008_firm_amount_format"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="invoice",
            options={
                "ordering": ["-year", "-number", "-id"],
                "permissions": [
                    ("issue_invoice", "Peut émettre une facture (numéro légal)"),
                    ("delete_draft", "Peut supprimer un brouillon de facture"),
                    ("send_invoices", "Peut envoyer des factures"),
                ],
                "verbose_name": "facture",
                "verbose_name_plural": "factures",
            },
        ),
        migrations.RunPython(billing_group, migrations.RunPython.noop),
    ]
