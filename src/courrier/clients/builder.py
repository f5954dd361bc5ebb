"""The selection builder's context, shared by the clients' selection page and the compose window
(which embeds the builder to choose its recipients): neither page imports the other's views."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict

from courrier.clients.forms import SelectionFilterForm, SelectionSaveForm
from courrier.clients.models import ClientSelection
from courrier.clients.selectors import (
    SelectionAdjustments,
    SelectionFilters,
    clients_to_add,
    selection_adjusted,
    selection_preview,
    selection_summary,
    selections_for,
)
from courrier.firm.models import Collaborator

SELECTION_LIST_LIMIT = 50
# The compose window lists more: each row can be unticked.
SELECTION_WINDOW_LIMIT = 200


def selection_builder_context(
    *,
    user: Collaborator,
    filters: SelectionFilters | None,
    loaded: ClientSelection | None = None,
    embedded: bool = False,
    save_form: SelectionSaveForm | None = None,
    adjustments: SelectionAdjustments | None = None,
    find: str = "",
) -> dict[str, Any]:
    """Everything `clients/_selection_builder.html` reads, its names prefixed `sel_` so that
    another page (the compose window) can merge it into its own context. `loaded` is the saved
    selection the builder started from; `embedded` drops what only the standalone page has
    (its own <form>, the "write to this selection" button). No filters: every active client on
    the standalone page; in the compose window (`embedded`), nobody until a filter is set or
    every client is asked for. The window's list can be changed by hand (`adjustments`: a
    client unticked, one added, found by `find`)."""
    if filters is None:
        filters = SelectionFilters()
    modified = loaded is not None and SelectionFilters.from_dict(loaded.filters) != filters
    if save_form is None:
        initial: dict[str, Any] = {}
        if loaded is not None and loaded.owner_id == user.pk:
            initial = {"name": loaded.name, "shared": loaded.shared}
        save_form = SelectionSaveForm(initial=initial)
    if loaded is not None and not modified:
        compose_query = f"selection={loaded.pk}"
    else:
        # Without any filter, the window would start with no recipient: every client is asked.
        compose_query = filters.as_query() or f"{SelectionAdjustments.PREFIX}all=1"
    context: dict[str, Any] = {
        "sel_form": SelectionFilterForm(filters=filters),
        "sel_filters": filters,
        "sel_query": filters.as_query(),
        "sel_compose_query": compose_query,
        "sel_summary": selection_summary(filters=filters),
        "sel_loaded": loaded,
        "sel_modified": modified,
        "sel_saved": list(selections_for(user=user)),
        "sel_save_form": save_form,
        "sel_legal_forms": SelectionFilterForm.legal_forms(),
        "sel_embedded": embedded,
    }
    if embedded:
        adjustments = adjustments or SelectionAdjustments()
        context.update(
            sel_adjust=adjustments,
            sel_adjusted=selection_adjusted(
                filters=filters, adjustments=adjustments, limit=SELECTION_WINDOW_LIMIT
            ),
            sel_find=find,
            sel_found=clients_to_add(query=find),
        )
    else:
        context["sel_preview"] = selection_preview(filters=filters, limit=SELECTION_LIST_LIMIT)
    return context


def selection_adjustments_from(
    query: QueryDict, *, filters: SelectionFilters, just_loaded: bool
) -> SelectionAdjustments:
    """The hand-made changes the compose window posted. A saved selection just loaded with no
    filter at all was saved to mean every active client: it does."""
    adjustments = SelectionAdjustments.from_query(query)
    if just_loaded and filters.is_empty:
        adjustments.everyone = True
    return adjustments
