"""The archive's files: each attachment of a stored message, downloaded on its own.

The bytes come from the stored message itself (the .eml that left), so the file a person saves
is the one the client received, with its name and type. Like the .eml, it is open to every
logged-in collaborator: a firm shares its client files.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from courrier.mailing import selectors


@login_required
@require_GET
def message_attachment(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    """Attachment number `index` (from 0, in the order the message page lists them)."""
    message = selectors.message_get(pk=pk)
    if message is None:
        raise Http404(_("Ce message n'existe pas."))
    part = selectors.message_attachment(raw=bytes(message.raw), index=index)
    if part is None:
        raise Http404(_("Ce message n'a pas cette pièce jointe."))
    name = part.name or _("piece-jointe-%(number)s") % {"number": index + 1}
    # Always a download, never shown inline: an HTML or SVG file from a mail must not run in
    # the application's pages.
    response = HttpResponse(part.content, content_type=part.content_type)
    disposition = content_disposition_header(as_attachment=True, filename=name)
    if disposition:
        response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    return response
