"""Collaborators and billing companies for the tests."""

from __future__ import annotations

from typing import Any

from courrier.firm.models import BillingCompany, Collaborator

PASSWORD = "correct-horse-battery-staple"


def make_collaborator(email: str = "anne@fidu.be", **extra: Any) -> Collaborator:
    extra.setdefault("first_name", "Anne")
    extra.setdefault("last_name", "Martin")
    return Collaborator.objects.create_user(email, PASSWORD, **extra)


def make_admin(email: str = "admin@fidu.be", **extra: Any) -> Collaborator:
    extra.setdefault("first_name", "Luc")
    extra.setdefault("last_name", "Dubois")
    return make_collaborator(email, role=Collaborator.Role.ADMIN, **extra)


def make_company(code: str = "FIDU", **extra: Any) -> BillingCompany:
    fields: dict[str, Any] = {
        "name": "Fiduciaire Dubois",
        "legal_form": "SRL",
        "enterprise_number": "0403.170.701",
    }
    fields.update(extra)
    return BillingCompany.objects.create(code=code, **fields)
