"""The invoice files a stopped batch round left behind.

A batch round writes the PDFs and e-invoices it made before its transaction (on SQLite,
outside the write lock) and records them on the invoices in it (`invoice_pdfs_record`). A
worker killed between the two leaves files that no invoice names; the outbox's recovery
(`courrier outbox_recover`, a worker's start-up) asks this module to remove them.
"""

from __future__ import annotations

import logging
from datetime import datetime

from courrier.billing.models import Invoice

logger = logging.getLogger("courrier.billing")


def invoice_files_sweep(before: datetime) -> int:
    """Remove the invoice files (PDF, e-invoice) written before `before` that no invoice
    names. The names are read after the folders, so a file recorded meanwhile is kept;
    `before` is far enough back that no round still running wrote it. Returns how many
    were removed; each one is logged."""
    storage = Invoice._meta.get_field("pdf").storage  # type: ignore[attr-defined]
    found: list[str] = []
    folders = ["invoices"]
    while folders:
        folder = folders.pop()
        try:
            subfolders, files = storage.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        folders += [f"{folder}/{name}" for name in subfolders]
        found += [f"{folder}/{name}" for name in files]
    if not found:
        return 0
    named = set(Invoice.objects.exclude(pdf="").values_list("pdf", flat=True))
    named |= set(Invoice.objects.exclude(ubl="").values_list("ubl", flat=True))
    removed = 0
    for name in found:
        if name in named:
            continue
        try:
            if storage.get_modified_time(name) >= before:
                continue
            storage.delete(name)
        except OSError:
            logger.warning("invoice file %s, left by a stopped round, could not be removed", name)
            continue
        removed += 1
        logger.warning("invoice file %s removed: written by a round that never committed", name)
    return removed
