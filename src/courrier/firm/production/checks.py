"""`courrier check --deploy` says what `courrier serve` would refuse: a public address that is
not the HTTPS address of a host the application answers to (the mails' links, the webhooks and
the OAuth callbacks are built from it).

Registered by the firm app at start-up, for every command: so nothing here imports the web
server (gunicorn), which only `courrier serve` needs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.http.request import validate_host
from django.utils.translation import gettext as _


@checks.register(checks.Tags.security, deploy=True)
def public_url_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [checks.Warning(problem, id="courrier.W001") for problem in public_url_problems()]


def public_url_problems() -> list[str]:
    """The public address must be HTTPS (links in mails, webhooks, OAuth callbacks are built
    from it) and its host one the application answers to."""
    url = urlsplit(settings.PUBLIC_URL)
    if url.scheme != "https" or not url.hostname:
        return [
            _(
                "COURRIER_PUBLIC_URL doit être l'adresse HTTPS publique de l'application "
                "(https://courrier.cabinet.be) : les liens des mails, les webhooks et les "
                "retours OAuth sont construits à partir d'elle."
            )
        ]
    if not validate_host(url.hostname, settings.ALLOWED_HOSTS):
        return [
            _(
                "L'hôte de COURRIER_PUBLIC_URL (%(host)s) n'est pas dans "
                "COURRIER_ALLOWED_HOSTS : chaque page y répondrait 400."
            )
            % {"host": url.hostname}
        ]
    return []
