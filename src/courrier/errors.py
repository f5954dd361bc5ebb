"""The project's error pages: a client who meets an error under a secure link's address gets
the link pages' own (no menu, nothing of the firm's application, in the mail's language);
everyone else gets Django's, with the firm's templates (403.html, 404.html, 500.html)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from courrier.mailing.views.links import error_page, is_link_path


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


def server_error(request: HttpRequest) -> HttpResponse:
    if is_link_path(request.path_info):
        return error_page(request, status=500)
    return defaults.server_error(request)
