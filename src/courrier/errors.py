"""The project's error pages: a client who meets an error under a secure link's address gets
the link pages' own (no menu, nothing of the firm's application, in the mail's language);
everyone else gets Django's, with the firm's templates (403.html, 404.html, 500.html).

The 500 page shows the request's id (`courrier.request_ids`): the reference a person quotes
finds the traceback in the log.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader
from django.views import defaults

from courrier.mailing.views.links import error_page, is_link_path
from courrier.request_ids import request_id_of


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_link_path(request.path_info):
        return error_page(request, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_link_path(request.path_info):
        return error_page(request, status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_link_path(request.path_info):
        return error_page(request, status=404)
    return defaults.page_not_found(request, exception)


SERVER_ERROR_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_link_path(request.path_info):
        return error_page(request, status=500)
    try:
        template = loader.get_template(defaults.ERROR_500_TEMPLATE_NAME)
    except Exception:  # the page of last resort must not fail in turn
        return defaults.server_error(request)
    # No context processors, no database: only the reference to quote.
    response = HttpResponseServerError(template.render({"request_id": request_id_of(request)}))
    # The page stands alone (its style is inline, so that it shows when static files do not):
    # a policy of its own, which the site's does not replace, lets that style in and nothing else.
    response["Content-Security-Policy"] = SERVER_ERROR_POLICY
    return response
