"""Secrets at rest: a text field encrypted with MultiFernet, keyed from COURRIER_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so a new key is put first and the old ones kept until
`courrier rotate_secrets` has re-encrypted the rows. A value no key can read raises
`SecretUnreadable`: a wrong key fails loudly, it never hands back the ciphertext as a password.

The system checks catch a wrong key before it fails a page or a delivery: a key that is not a
Fernet key (every command), and keys that cannot read the secrets already stored (`courrier
check --deploy`, which tries the stored values of every encrypted column, a bounded number of
rows each). `secrets_unreadable` lets a page say which of one row's secrets cannot be read
without decrypting them into the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, models
from django.db.models.functions import Cast

PREFIX = "fernet:"


class SecretUnreadable(ImproperlyConfigured):
    """A stored secret cannot be decrypted with the configured keys."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("COURRIER_ENCRYPTION_KEYS is empty: secrets cannot be stored.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "COURRIER_ENCRYPTION_KEYS holds a key that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return PREFIX + fernet().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise SecretUnreadable("A stored secret is not in the encrypted format.")
    try:
        return fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted: COURRIER_ENCRYPTION_KEYS does not hold the key "
            "it was encrypted with."
        ) from exc


def rotate(stored: str) -> str:
    """Re-encrypt a stored value with the first key."""
    try:
        return PREFIX + fernet().rotate(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("A stored secret cannot be decrypted for rotation.") from exc


class EncryptedTextField(models.TextField):
    """Holds a secret. Empty stays empty (no secret); anything else is stored encrypted."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))


def secrets_unreadable(
    queryset: models.QuerySet[Any], fields: Iterable[str], *, rows: int | None = None
) -> list[str]:
    """The names among `fields` holding, in some row of `queryset` (its first `rows`), a value
    that the keys cannot decrypt. Reads the stored text as it is (never through the field),
    so it works whatever the keys; decrypted values are dropped at once."""
    names = list(fields)
    raw = {f"_stored_{name}": Cast(name, output_field=models.TextField()) for name in names}
    found: set[str] = set()
    for row in queryset.values(**raw)[:rows]:
        for name in names:
            value = row[f"_stored_{name}"]
            if name in found or not value:
                continue
            try:
                decrypt(value)
            except SecretUnreadable:
                found.add(name)
    return [name for name in names if name in found]


# Rows tried per encrypted column by `check --deploy`: enough to catch a wrong key (it reads
# none of them), few enough for a check on a large outbox.
CHECKED_ROWS = 200


@checks.register(checks.Tags.security)
def check_keys_are_fernet_keys(**kwargs: Any) -> list[checks.CheckMessage]:
    try:
        fernet()
    except ImproperlyConfigured as exc:
        return [
            checks.Error(
                str(exc),
                hint="Generate a key with `courrier generate_keys`; a key is 44 characters "
                "ending in '='. Keep the old keys after the new one, separated by commas.",
                id="courrier.E001",
            )
        ]
    return []


@checks.register(checks.Tags.security, deploy=True)
def check_keys_read_stored_secrets(**kwargs: Any) -> list[checks.CheckMessage]:
    """Every encrypted column: its latest stored values decrypt with the configured keys."""
    try:
        fernet()
    except ImproperlyConfigured:
        return []  # courrier.E001 says it
    unreadable: list[str] = []
    for model in apps.get_models():
        fields = [f.name for f in model._meta.local_fields if isinstance(f, EncryptedTextField)]
        for name in fields:
            rows = (
                model._default_manager.exclude(**{name: ""})
                .exclude(**{f"{name}__isnull": True})
                .order_by("-pk")
            )
            try:
                if secrets_unreadable(rows, [name], rows=CHECKED_ROWS):
                    unreadable.append(f"{model._meta.label}.{name}")
            except DatabaseError:
                return []  # no database yet, or not migrated: nothing stored to read
    if not unreadable:
        return []
    return [
        checks.Error(
            "COURRIER_ENCRYPTION_KEYS cannot decrypt the secrets stored in "
            + ", ".join(unreadable)
            + ".",
            hint="Put back the key they were encrypted with (a new key goes first, the old ones "
            "after it, until `courrier rotate_secrets` has run), or type those secrets again.",
            id="courrier.E002",
        )
    ]
