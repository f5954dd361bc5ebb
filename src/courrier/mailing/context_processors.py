"""`profile_alert`: the sending profiles the user is responsible for that cannot send now.

A collaborator is told about their own profile; an administrator also about the billing
companies' profiles. Each alert says why, how many messages wait, and where to fix it. Read
lazily: a page that never shows the banner runs no query.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db.models import Count, Q
from django.http import HttpRequest
from django.urls import reverse

from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.texts import Text


@dataclass(frozen=True)
class ProfileAlert:
    state: str  # "broken" or "reconnect"
    reason: Text
    held: int
    url: str
    company: str  # the billing company's name, empty for the user's own profile


def alerts_for(user: Any) -> list[ProfileAlert]:
    """The user's profiles that are to fix or to reconnect, own first."""
    mine = Q(collaborator_id=user.pk)
    if getattr(user, "is_firm_admin", False):
        mine |= Q(billing_company__isnull=False)
    rows = list(
        SendingProfile.objects.filter(mine)
        .exclude(state=SendingProfile.State.OK)
        .values(
            "pk",
            "state",
            "state_reason",
            "collaborator_id",
            "billing_company_id",
            "billing_company__name",
        )
        .order_by("billing_company__name", "pk")
    )
    if not rows:
        return []
    held = dict(
        OutboundMessage.objects.filter(
            profile_id__in=[row["pk"] for row in rows], status=OutboundMessage.Status.HELD
        )
        .values("profile_id")
        .annotate(count=Count("id"))
        .values_list("profile_id", "count")
    )
    alerts = []
    for row in rows:
        company_pk = row["billing_company_id"]
        url = (
            reverse("mailing:company_profile", args=[company_pk])
            if company_pk is not None
            else reverse("mailing:my_profile")
        )
        alerts.append(
            ProfileAlert(
                state=row["state"],
                reason=row["state_reason"],
                held=held.get(row["pk"], 0),
                url=url + "#sending-profile",
                company=row["billing_company__name"] or "",
            )
        )
    alerts.sort(key=lambda alert: bool(alert.company))
    return alerts


def profile_alert(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"profile_alert": []}
    return {"profile_alert": cache(lambda: alerts_for(user))}
