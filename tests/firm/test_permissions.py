"""The role checks other screens use."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.utils import translation
from django.views import View

from courrier.firm.permissions import AdminRequiredMixin, admin_required
from tests.firm.factories import make_admin, make_collaborator

pytestmark = pytest.mark.django_db


@admin_required
def admin_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


class AdminPage(AdminRequiredMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")


@pytest.mark.parametrize("view", [admin_page, AdminPage.as_view()])
def test_admin_only_views(view: object) -> None:
    assert callable(view)
    request = RequestFactory().get("/cabinet/x/")

    request.user = AnonymousUser()
    response = view(request)
    assert response.status_code == 302 and "/connexion/" in response["Location"]

    request.user = make_collaborator()
    with translation.override("fr"), pytest.raises(PermissionDenied) as refused:
        view(request)
    assert "réservée aux administrateurs" in str(refused.value)

    request.user = make_admin()
    assert view(request).status_code == 200


def test_a_superuser_is_an_admin_whatever_the_role() -> None:
    root = make_collaborator("root@fidu.be", is_superuser=True)
    request = RequestFactory().get("/")
    request.user = root
    assert admin_page(request).status_code == 200
