"""Background tasks of the firm app: thin wrappers around its services."""

from __future__ import annotations

from django_tasks import task

from courrier.firm.production.health import heartbeat_answer


@task()
def worker_heartbeat() -> str:
    """A sign of life for the health page: the worker that runs this task is taking tasks."""
    heartbeat_answer(task_path=worker_heartbeat.module_path)
    return "alive"
