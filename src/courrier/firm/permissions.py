"""Who may do what. Two roles: firm administrators and collaborators; everything needs a login.

A refusal is a 403 page that says why in the user's language (`templates/403.html`), never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from courrier.mailing.models import SendingProfile

View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def is_firm_admin(user: Any) -> bool:
    """True for a logged-in administrator of the firm (role "admin" or superuser)."""
    return bool(user.is_authenticated and getattr(user, "is_firm_admin", False))


def installation_admin(user: Any) -> bool:
    """True for whoever may be told how the installation is set up (its environment variables):
    an administrator of the firm or a member of the technical staff. Collaborators are told, in
    plain words, to ask the firm's administrator."""
    return bool(is_firm_admin(user) or (user.is_authenticated and user.is_staff))


def admin_only() -> PermissionDenied:
    return PermissionDenied(_("Cette page est réservée aux administrateurs du cabinet."))


def admin_required(view: View) -> View:
    """Function views: anonymous users go to the login page, collaborators get a 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not is_firm_admin(request.user):
            raise admin_only()
        return view(request, *args, **kwargs)

    return login_required(wrapper)  # type: ignore[return-value]


class AdminRequiredMixin(LoginRequiredMixin):
    """Class-based views: like `admin_required`."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.user.is_authenticated and not is_firm_admin(request.user):
            raise admin_only()
        return super().dispatch(request, *args, **kwargs)


def can_manage_profile(user: Any, profile: SendingProfile) -> bool:
    """A collaborator manages their own sending profile; an administrator manages every profile
    (billing companies' included) without ever seeing a stored secret."""
    if not user.is_authenticated or not user.is_active:
        return False
    if is_firm_admin(user):
        return True
    return profile.collaborator_id is not None and profile.collaborator_id == user.pk
