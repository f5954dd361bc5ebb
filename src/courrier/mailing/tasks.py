"""Background tasks: thin wrappers around the services, run by `courrier db_worker`."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from courrier.mailing import services


@task()
def deliver_profile(profile_id: int) -> dict[str, Any]:
    """Settle runs that stopped, then deliver a batch of the profile's ready messages."""
    services.messages_recover()
    return services.messages_deliver(profile_id=profile_id).as_dict()
