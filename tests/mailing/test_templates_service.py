"""The firm's templates that code brings (the apps' demo data): made once, kept or rewritten."""

from __future__ import annotations

import pytest

from courrier.mailing.models import MailTemplate
from courrier.mailing.services import template_ensure

pytestmark = pytest.mark.django_db

VERSIONS = {
    "fr": ("Vos documents", "Bonjour,\n\nVoici vos documents."),
    "nl": ("Uw stukken", "Dag"),
}


def test_a_template_is_made_once_and_its_versions_are_kept() -> None:
    made = template_ensure(name="Documents", context=MailTemplate.Context.CLIENT, versions=VERSIONS)
    made.versions.filter(language="fr").update(subject="Changé à la main")
    again = template_ensure(
        name="Documents",
        context=MailTemplate.Context.CLIENT,
        versions={**VERSIONS, "en": ("Your documents", "Hello")},
    )
    assert again.pk == made.pk and MailTemplate.objects.count() == 1
    assert again.owner is None and again.languages() == ["fr", "nl", "en"]
    assert again.version("fr").subject == "Changé à la main"  # type: ignore[union-attr]
    assert "<p>Voici vos documents.</p>" in again.version("fr").body  # type: ignore[union-attr]


def test_overwrite_rewrites_the_versions_and_unshares_the_template() -> None:
    made = template_ensure(name="Documents", context=MailTemplate.Context.CLIENT, versions=VERSIONS)
    made.shared = True
    made.save(update_fields=["shared"])
    made.versions.filter(language="fr").update(subject="Changé à la main")
    again = template_ensure(
        name="Documents", context=MailTemplate.Context.CLIENT, versions=VERSIONS, overwrite=True
    )
    again.refresh_from_db()
    assert again.pk == made.pk and not again.shared
    assert again.version("fr").subject == "Vos documents"  # type: ignore[union-attr]
