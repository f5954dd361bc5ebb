"""The demo's tax files: every kind, both 71 and 72 cases, templates per context; idempotent."""

from __future__ import annotations

import pytest

from courrier.demo.seed import demo_seed
from courrier.mailing import contexts
from courrier.mailing.models import MailTemplate
from courrier.mailing.rendering import check_fields
from courrier.taxes.models import (
    AnnualAccountsFiling,
    CorporateTaxReturn,
    IncomeTaxReturn,
    VatRegime,
    VatReturn,
)


@pytest.mark.django_db
def test_demo_tax_files_are_seeded_once() -> None:
    demo_seed()
    counts = [
        model.objects.count()
        for model in (VatReturn, CorporateTaxReturn, IncomeTaxReturn, AnnualAccountsFiling)
    ]
    assert all(counts), counts
    returns = list(VatReturn.objects.all())
    assert any(row.grid_71 > 0 for row in returns) and any(row.grid_72 > 0 for row in returns)
    assert not any(row.grid_71 and row.grid_72 for row in returns)
    regimes = {row.regime for row in returns}
    assert regimes == {VatRegime.MONTHLY, VatRegime.QUARTERLY}
    assert {row.client.language for row in returns} >= {"fr", "nl", "en"}
    for context in ("vat", "isoc", "ipp", "bnb"):
        template = MailTemplate.objects.get(context=context)
        assert {version.language for version in template.versions.all()} == {
            "fr",
            "nl",
            "de",
            "en",
        }
        for version in template.versions.all():
            check_fields(version.subject + version.body, context=context)
    # Every row resolves as a mail context.
    assert len(contexts.resolve("vat", [row.pk for row in returns])) == len(returns)
    demo_seed()
    again = [
        model.objects.count()
        for model in (VatReturn, CorporateTaxReturn, IncomeTaxReturn, AnnualAccountsFiling)
    ]
    assert again == counts
    assert MailTemplate.objects.filter(context="vat").count() == 1
