"""`{% mail_frame_url html %}`: the address of a sandboxed frame showing a mail's HTML."""

from __future__ import annotations

from typing import Any

from django import template

from courrier.mailing.frames import mail_frame_url as frame_url

register = template.Library()


@register.simple_tag(takes_context=True)
def mail_frame_url(context: dict[str, Any], html: str) -> str:
    request = context.get("request")
    if request is None:
        return "about:blank"  # drawn outside a request: no session to keep the frame in
    return frame_url(request, str(html or ""))
