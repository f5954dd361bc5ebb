"""A mail's HTML shown inside a page: a sandboxed frame with its own address and policy.

A frame written inline (`srcdoc`) would live under the page's Content-Security-Policy, which
refuses inline styles, and mails are all inline styles. So the page that may show a mail's HTML
(a message of the archive, the compose preview, the demo mailbox) leaves it in the reader's
session under a random key (`mail_frame_url`), and the frame fetches it from `mail_frame`,
served with a policy of its own: no script at all, nothing loaded but images, the frame
sandboxed (no script, no form, no navigation of the page), and shown only inside Courrier's
own pages. The key is good only in the session that showed the page, so the frame needs no
access rule of its own: whoever could see the page sees its mail, nobody else.
"""

from __future__ import annotations

import secrets

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

SESSION_KEY = "mail_frames"
# The frames a session keeps: the last pages and previews opened, not more (the session is
# read on every request).
KEPT = 8
# A mail's own styles and images; no script, no fetch, no form, no plugin, no navigation.
POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data: https:",
        "font-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
        "sandbox",
    ]
)


def mail_frame_url(request: HttpRequest, html: str) -> str:
    """The address of a frame that shows `html` to this session (kept among its last ones)."""
    frames: dict[str, str] = dict(request.session.get(SESSION_KEY) or {})
    key = secrets.token_urlsafe(16)
    frames[key] = html
    # Dicts keep their order: the oldest frames go first.
    request.session[SESSION_KEY] = dict(list(frames.items())[-KEPT:])
    return reverse("mailing:mail_frame", args=[key])


# Any visitor of a page showing a mail (the demo mailbox needs no login) reads back only what
# that page left in their own session.
@login_not_required
@require_GET
@never_cache
@xframe_options_sameorigin
def mail_frame(request: HttpRequest, key: str) -> HttpResponse:
    html = (request.session.get(SESSION_KEY) or {}).get(key)
    if not isinstance(html, str):
        raise Http404("This frame has expired: reload the page.")
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = POLICY
    response["Referrer-Policy"] = "no-referrer"
    return response
