"""A signature per mail language, for collaborators and billing companies.

A collaborator's one signature becomes the version of their interface language: that is the
language they write in (a Dutch-speaking colleague's "Tel." signature is Dutch), where the
firm's default mail language would turn it into, say, the French version and sign French mails
in Dutch. Going back keeps the version of the interface language, else the first there is.
"""

from typing import Any

from django.db import migrations, models

LANGUAGES = ("fr", "nl", "de", "en")


def _firm_language(apps: Any) -> str:
    firm = apps.get_model("firm", "Firm").objects.filter(pk=1).first()
    language = firm.default_language if firm is not None else "fr"
    return language if language in LANGUAGES else "fr"


def signature_to_versions(apps: Any, schema_editor: Any) -> None:
    Collaborator = apps.get_model("firm", "Collaborator")
    fallback = _firm_language(apps)
    for collaborator in Collaborator.objects.exclude(signature=""):
        language = collaborator.language if collaborator.language in LANGUAGES else fallback
        Collaborator.objects.filter(pk=collaborator.pk).update(
            **{f"signature_{language}": collaborator.signature}
        )


def versions_to_signature(apps: Any, schema_editor: Any) -> None:
    Collaborator = apps.get_model("firm", "Collaborator")
    for collaborator in Collaborator.objects.all():
        order = [collaborator.language, *LANGUAGES]
        versions = [getattr(collaborator, f"signature_{code}", "") for code in order]
        text = next((version for version in versions if version and version.strip()), "")
        if text:
            Collaborator.objects.filter(pk=collaborator.pk).update(signature=text)


def _signature_fields(model_name: str) -> list[migrations.AddField]:
    labels = {
        "fr": "signature en français",
        "nl": "signature en néerlandais",
        "de": "signature en allemand",
        "en": "signature en anglais",
    }
    return [
        migrations.AddField(
            model_name=model_name,
            name=f"signature_{language}",
            field=models.TextField(blank=True, verbose_name=labels[language]),
        )
        for language in LANGUAGES
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("firm", "0004_company_invoice_template"),
    ]

    operations = [
        *_signature_fields("collaborator"),
        *_signature_fields("billingcompany"),
        migrations.RunPython(signature_to_versions, versions_to_signature),
        migrations.RemoveField(model_name="collaborator", name="signature"),
    ]
