"""Re-encrypt every stored secret with the first key of COURRIER_ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.db.models.functions import Cast

from courrier import crypto
from courrier.crypto import EncryptedTextField, SecretUnreadable


class Command(BaseCommand):
    help = (
        "Chiffre à nouveau tous les secrets enregistrés (mots de passe, clés, jetons) avec la "
        "première clé de COURRIER_ENCRYPTION_KEYS. Pour changer de clé : mettez la nouvelle en "
        "premier, gardez les anciennes après une virgule, lancez cette commande, puis retirez "
        "les anciennes clés."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        unreadable: list[str] = []
        # All or nothing: a secret no key can read stops the rotation before anything changes.
        with transaction.atomic():
            for model in apps.get_models():
                for field in model._meta.concrete_fields:
                    if not isinstance(field, EncryptedTextField):
                        continue
                    # The stored text itself, not the decrypted value the field would give.
                    rows = (
                        model._base_manager.exclude(**{field.attname: ""})
                        .exclude(**{f"{field.attname}__isnull": True})
                        .annotate(_stored=Cast(field.attname, output_field=models.TextField()))
                        .values_list("pk", "_stored")
                    )
                    for pk, stored in rows:
                        try:
                            value = crypto.rotate(stored)
                        except SecretUnreadable:
                            unreadable.append(f"{model._meta.label} n°{pk} ({field.name})")
                            continue
                        model._base_manager.filter(pk=pk).update(
                            **{field.attname: models.Value(value, output_field=models.TextField())}
                        )
                        rotated += 1
            if unreadable:
                transaction.set_rollback(True)
        if unreadable:
            raise CommandError(
                "Aucune clé de COURRIER_ENCRYPTION_KEYS ne déchiffre : "
                + ", ".join(unreadable)
                + ". Rien n'a été modifié ; ajoutez l'ancienne clé à la liste et recommencez."
            )
        self.stdout.write(f"{rotated} secret(s) chiffré(s) avec la première clé.")
