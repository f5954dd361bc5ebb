"""Courrier's URLs plus a page that fails: the 500 page and its log line, seen as in production."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import path

from courrier.urls import handler400, handler403, handler404, handler500  # noqa: F401
from courrier.urls import urlpatterns as courrier_urlpatterns

SECRET_IN_THE_ERROR = "smtp-password-never-in-a-log"


@login_not_required
def failing(request: HttpRequest) -> HttpResponse:
    password = SECRET_IN_THE_ERROR  # noqa: F841 (a local: tracebacks must not show locals)
    raise RuntimeError("the page failed")


urlpatterns = [path("test-failing/", failing), *courrier_urlpatterns]
