"""The client file's data-protection part: the export and erase buttons, and the record of an
erasure, for administrators only."""

from __future__ import annotations

from typing import Any

from django import template

from courrier.clients.models import Client
from courrier.firm.permissions import is_firm_admin
from courrier.privacy.services import client_erasure

register = template.Library()


@register.inclusion_tag("privacy/_client_actions.html", takes_context=True)
def client_privacy(context: dict[str, Any], client: Client) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    admin = is_firm_admin(user)
    return {
        "client": client,
        "admin": admin,
        "erasure": client_erasure(client) if admin else None,
    }
