"""Writes on tags and saved selections of clients."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from courrier.clients.models import ClientSelection, Tag
from courrier.clients.selectors import SelectionFilters, selection_named, tag_named
from courrier.firm.models import Collaborator
from courrier.firm.permissions import is_firm_admin

SELECTION_NAME_MAX = ClientSelection._meta.get_field("name").max_length or 100
TAG_NAME_MAX = Tag._meta.get_field("name").max_length or 40


def _clean_name(name: str, *, limit: int) -> str:
    # Names are shown in lists and menus: one line, no control characters.
    cleaned = " ".join("".join(ch for ch in name if ch.isprintable()).split())
    if not cleaned:
        raise ValidationError(_("Indiquez un nom."), code="required")
    if len(cleaned) > limit:
        raise ValidationError(
            _("Ce nom est trop long (%(limit)d caractères au plus).") % {"limit": limit},
            code="max_length",
        )
    return cleaned


def selection_save(
    *, owner: Collaborator, name: str, filters: SelectionFilters, shared: bool = False
) -> tuple[ClientSelection, bool]:
    """Save `filters` under `name` for `owner`; the second item is True when the selection is
    new. Saving under a name the owner already uses (whatever the case) replaces that
    selection's filters. Raises ValidationError on an empty or too long name."""
    name = _clean_name(name, limit=SELECTION_NAME_MAX)
    try:
        with transaction.atomic():
            selection = selection_named(owner=owner, name=name)
            created = selection is None
            if selection is None:
                selection = ClientSelection(owner=owner)
            selection.name = name
            selection.filters = filters.as_dict()
            selection.shared = shared
            selection.save()
    except IntegrityError as exc:
        # The same name saved twice at the same moment (two tabs): the database kept one.
        raise ValidationError(_("Vous avez déjà une sélection de ce nom."), code="unique") from exc
    return selection, created


def selection_can_delete(*, selection: ClientSelection, user: Collaborator) -> bool:
    """Its owner deletes a selection; an administrator may also remove one shared with the firm
    (a colleague who left, a duplicate)."""
    return selection.owner_id == user.pk or (selection.shared and is_firm_admin(user))


def selection_delete(*, selection: ClientSelection, by: Collaborator) -> None:
    """Delete a saved selection (its filters; no client is touched). Raises PermissionDenied
    for anyone but its owner (or an administrator, for a shared one)."""
    if not selection_can_delete(selection=selection, user=by):
        raise PermissionDenied(_("Seul l'auteur de cette sélection peut la supprimer."))
    selection.delete()


def selection_share(*, selection: ClientSelection, by: Collaborator, shared: bool) -> None:
    """Share a selection with the firm or take it back; only its owner decides. A selection is
    a list of filters, not client data: sharing it shows no client to anyone."""
    if selection.owner_id != by.pk:
        raise PermissionDenied(_("Seul l'auteur de cette sélection peut la partager."))
    if selection.shared != shared:
        selection.shared = shared
        selection.save(update_fields=["shared", "updated_at"])


def tag_create(*, name: str, colour: str = "") -> Tag:
    """A new tag. Without a colour, the next one of the palette, so that tags created one
    after the other look different. Raises ValidationError on a name already used."""
    name = _clean_name(name, limit=TAG_NAME_MAX)
    if colour not in Tag.Colour.values:
        palette = Tag.Colour.values
        colour = palette[Tag.objects.count() % len(palette)]
    if tag_named(name=name) is not None:
        raise ValidationError(_("Une étiquette porte déjà ce nom."), code="unique")
    tag = Tag(name=name, colour=colour)
    tag.full_clean()
    try:
        with transaction.atomic():
            tag.save()
    except IntegrityError as exc:
        raise ValidationError(_("Une étiquette porte déjà ce nom."), code="unique") from exc
    return tag


def tags_ensure(*, names: Iterable[str]) -> list[Tag]:
    """The tags with these names (whatever the case), created when missing, in the order
    given, without duplicates."""
    tags: list[Tag] = []
    for raw in names:
        name = _clean_name(raw, limit=TAG_NAME_MAX)
        tag = tag_named(name=name) or tag_create(name=name)
        if tag not in tags:
            tags.append(tag)
    return tags
