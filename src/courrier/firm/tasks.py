"""Background tasks of the firm app: thin wrappers around its services."""

from __future__ import annotations

from django_tasks import task

from courrier.firm.passwords import password_reset_request
from courrier.firm.production.health import heartbeat_answer


@task()
def password_reset_mail(email: str, base_url: str) -> None:
    """The mail of a "Mot de passe oublié" request, sent by the worker (see `firm.passwords`)."""
    password_reset_request(email=email, base_url=base_url)


@task()
def worker_heartbeat() -> str:
    """A sign of life for the health page: the worker that runs this task is taking tasks."""
    heartbeat_answer(task_path=worker_heartbeat.module_path)
    return "alive"
