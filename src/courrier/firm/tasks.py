"""Background tasks of the firm: thin wrappers around its services."""

from __future__ import annotations

from django_tasks import task

from courrier.firm.passwords import password_reset_request


@task()
def password_reset_mail(email: str, base_url: str) -> None:
    """The mail of a "Mot de passe oublié" request, sent by the worker (see `firm.passwords`)."""
    password_reset_request(email=email, base_url=base_url)
