"""Who may do what. Two roles: firm administrators and collaborators; everything needs a login.

On top of the roles, three permissions of the invoices (`billing.issue_invoice`,
`billing.delete_draft`, `billing.send_invoices`), held through the group "Facturation" (or one
by one in the technical administration); an administrator of the firm holds them all
(`FirmAdminBackend`). Who sees which message is `courrier.mailing.selectors.messages_visible`.

A refusal is a 403 page that says why in the user's language (`templates/403.html`), never a 500;
an object someone may not see at all answers 404, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from courrier.mailing.models import SecureLink, SendingProfile

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


def link_may_revoke(user: Any, link: SecureLink) -> bool:
    """A secure link is revoked by the collaborator who made it or by an administrator."""
    if not user.is_authenticated or not user.is_active:
        return False
    return is_firm_admin(user) or (link.created_by_id is not None and link.created_by_id == user.pk)


# --- Invoices ---------------------------------------------------------------------------------

ISSUE_INVOICE = "billing.issue_invoice"
DELETE_DRAFT = "billing.delete_draft"
SEND_INVOICES = "billing.send_invoices"
BILLING_PERMISSIONS = (ISSUE_INVOICE, DELETE_DRAFT, SEND_INVOICES)
# The group that holds the three; the firm's page of a collaborator ticks it on or off.
BILLING_GROUP = "Facturation"


def billing_group() -> Group:
    """The group "Facturation", with the three permissions of the invoices (made again when it
    was deleted in the technical administration)."""
    group, _created = Group.objects.get_or_create(name=BILLING_GROUP)
    codenames = [perm.split(".", 1)[1] for perm in BILLING_PERMISSIONS]
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="billing", codename__in=codenames)
    )
    return group


def billing_grant(collaborator: Any) -> None:
    """Put `collaborator` in the group "Facturation"."""
    collaborator.groups.add(billing_group())


class FirmAdminBackend(BaseBackend):
    """Gives an administrator of the firm the invoices' permissions, without a group: the role
    is enough. Authenticates nobody (the model backend does)."""

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return bool(user_obj.is_active and is_firm_admin(user_obj) and perm in BILLING_PERMISSIONS)


def billing_refused(perm: str) -> PermissionDenied:
    """The 403 of an invoice action that `perm` is missing for, in the user's language."""
    reasons = {
        ISSUE_INVOICE: _(
            "Émettre une facture (elle prend un numéro légal) est réservé aux collaborateurs "
            "du rôle Facturation et aux administrateurs du cabinet."
        ),
        DELETE_DRAFT: _(
            "Supprimer un brouillon de facture est réservé aux collaborateurs du rôle "
            "Facturation et aux administrateurs du cabinet."
        ),
        SEND_INVOICES: _(
            "Envoyer des factures est réservé aux collaborateurs du rôle Facturation et aux "
            "administrateurs du cabinet."
        ),
    }
    return PermissionDenied(reasons.get(perm, _("Cette action ne vous est pas permise.")))


def billing_required(perm: str) -> Callable[[View], View]:
    """Function views of the invoices: a collaborator without `perm` gets a 403 that says who
    may do it."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.has_perm(perm):
                raise billing_refused(perm)
            return view(request, *args, **kwargs)

        return login_required(wrapper)  # type: ignore[return-value]

    return decorator
