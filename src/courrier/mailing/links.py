"""Secure links: a file handed to one client as a link instead of an attachment.

The app keeps a copy of the file and serves it at `/l/<token>/` to whoever types the code
that reached the client another way (read out by the collaborator on the phone, or sent in a
second mail). A link expires at the end of its last day (Brussels time), can be revoked, and
locks after `MAX_FAILED_ATTEMPTS` wrong codes; every attempt is logged in `LinkOpening`.

The code is random (10 characters from an alphabet without look-alike characters, about 49
bits), not a password a person chose: it is stored as an HMAC-SHA256 keyed with the secret key
and salted with the link's token, which is fast enough to create a hundred links in one batch.
Guessing online is what the lock stops.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import npgettext, pgettext

from courrier.audit import audited
from courrier.l10n import format_long_date, mail_language, override
from courrier.mailing.contexts import PURPOSE_LINK_CODE
from courrier.mailing.models import LinkOpening, OutboundMessage, SecureLink

if TYPE_CHECKING:
    from courrier.clients.models import Client
    from courrier.firm.models import Collaborator

logger = logging.getLogger(__name__)

# No 0/O, 1/I/L: the code is read out on the phone and typed by hand.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
# Letters and digits only, so that the address survives any mail software and the body's
# light markup ("_" would read as italics).
TOKEN_ALPHABET = string.ascii_letters + string.digits
TOKEN_LENGTH = 43  # ~256 bits
MAX_FAILED_ATTEMPTS = 5
DEFAULT_DAYS = 14
MAX_DAYS = 90
_HASH_PREFIX = "hmac-sha256$"
_HMAC_SALT = "courrier.mailing.links"


class LinkError(Exception):
    """A link that cannot be opened; `outcome` is the `LinkOpening.Outcome` it was logged as
    ("" when no link has that token), `link` the link when there is one."""

    outcome: str = ""

    def __init__(self, link: SecureLink | None = None, *, remaining: int = 0) -> None:
        self.link = link
        self.remaining = remaining
        super().__init__(self.outcome or "not_found")


class LinkNotFound(LinkError):
    outcome = ""


class LinkExpired(LinkError):
    outcome = LinkOpening.Outcome.EXPIRED


class LinkRevoked(LinkError):
    outcome = LinkOpening.Outcome.REVOKED


class LinkLocked(LinkError):
    outcome = LinkOpening.Outcome.LOCKED


class WrongCode(LinkError):
    outcome = LinkOpening.Outcome.WRONG_CODE


def code_generate() -> str:
    """A fresh code, shown grouped as ABCDE-FGHJK."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def code_normalise(code: str) -> str:
    """What the person typed, without spaces or dashes, in capitals."""
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def _code_hash(token: str, code: str) -> str:
    digest = salted_hmac(_HMAC_SALT, f"{token}:{code_normalise(code)}", algorithm="sha256")
    return _HASH_PREFIX + digest.hexdigest()


def _token() -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def _expiry(days: int) -> datetime:
    """The end of the link's last day in the firm's time zone: "until 11 December" holds all
    that day."""
    last_day = timezone.localdate() + timedelta(days=days)
    return timezone.make_aware(datetime.combine(last_day, time(23, 59, 59)))


def link_create(
    *,
    client: Client,
    name: str,
    content_type: str,
    content: bytes,
    created_by: Collaborator | None,
    days: int = DEFAULT_DAYS,
    message: OutboundMessage | None = None,
    code: str | None = None,
    language: str | None = None,
) -> tuple[SecureLink, str]:
    """Keep a copy of `content` and make a link to it for `client`, valid `days` days (until
    the end of the last one); returns the link and its code in clear, which is not stored.
    `code` given (from an earlier `link_create`), the links of one mail share one code.
    `language` is the mail's, which the link's page speaks (by default the client's)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"A link lasts 1 to {MAX_DAYS} days, not {days}.")
    plain = code if code else code_generate()
    if len(code_normalise(plain)) < CODE_LENGTH:
        raise ValueError("A link code has at least 10 letters or digits.")
    token = _token()
    link = SecureLink(
        token=token,
        code_hash=_code_hash(token, plain),
        client=client,
        message=message,
        created_by=created_by,
        name=name,
        language=mail_language(language or client.language),
        content_type=content_type or "application/octet-stream",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        expires_at=_expiry(days),
    )
    # The stored name says nothing of the document: the token is enough to find it.
    link.file.save(f"{token}.bin", ContentFile(content), save=False)
    link.save()
    logger.info("secure link %s created for client %s (%d bytes)", link.pk, client.pk, link.size)
    return link, plain


def links_attach(*, links: Sequence[SecureLink], message: OutboundMessage) -> None:
    """Record the mail that carries the links (made before the mail was stored), and its
    language as theirs: the client reads the page in the language of the mail they clicked."""
    SecureLink.objects.filter(pk__in=[link.pk for link in links]).update(
        message=message, language=message.language
    )
    for link in links:
        link.message = message
        link.language = message.language


def _clean_ip(ip: str | None) -> str | None:
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        return None


def link_open(*, token: str, code: str, ip: str | None = None, user_agent: str = "") -> SecureLink:
    """The link whose token and code match, its opening logged; raises `LinkNotFound`,
    `LinkRevoked`, `LinkExpired`, `LinkLocked` or `WrongCode` (with `remaining` attempts),
    each logged as an opening but the first. The fifth wrong code locks the link for good."""
    outcome: str
    with transaction.atomic():
        link = SecureLink.objects.select_for_update().filter(token=token).first()
        if link is None or not token:
            raise LinkNotFound()
        if link.revoked_at is not None:
            outcome = LinkOpening.Outcome.REVOKED
        elif link.expires_at <= timezone.now():
            outcome = LinkOpening.Outcome.EXPIRED
        elif link.failed_attempts >= MAX_FAILED_ATTEMPTS:
            outcome = LinkOpening.Outcome.LOCKED
        elif constant_time_compare(_code_hash(token, code), link.code_hash):
            outcome = LinkOpening.Outcome.OPENED
        else:
            outcome = LinkOpening.Outcome.WRONG_CODE
            link.failed_attempts += 1
            link.save(update_fields=["failed_attempts"])
        LinkOpening.objects.create(
            link=link,
            outcome=outcome,
            ip=_clean_ip(ip),
            user_agent=(user_agent or "")[:300],
        )
    if outcome == LinkOpening.Outcome.OPENED:
        logger.info("secure link %s opened", link.pk)
        return link
    logger.warning("secure link %s refused: %s", link.pk, outcome)
    if outcome == LinkOpening.Outcome.WRONG_CODE:
        remaining = MAX_FAILED_ATTEMPTS - link.failed_attempts
        if remaining <= 0:
            raise LinkLocked(link)
        raise WrongCode(link, remaining=remaining)
    error = {
        LinkOpening.Outcome.REVOKED: LinkRevoked,
        LinkOpening.Outcome.EXPIRED: LinkExpired,
        LinkOpening.Outcome.LOCKED: LinkLocked,
    }[outcome]
    raise error(link)


def link_visit(*, token: str, ip: str | None = None, user_agent: str = "") -> SecureLink:
    """The link of a token, for its code form: returned when it can still be opened (nothing
    logged); a revoked, expired or locked link raises its error and the visit is logged."""
    link = (
        SecureLink.objects.select_related("client").filter(token=token).first() if token else None
    )
    if link is None:
        raise LinkNotFound()
    state = link_state(link)
    if state == "active":
        return link
    error: type[LinkError] = {"revoked": LinkRevoked, "expired": LinkExpired}.get(state, LinkLocked)
    LinkOpening.objects.create(
        link=link, outcome=error.outcome, ip=_clean_ip(ip), user_agent=(user_agent or "")[:300]
    )
    raise error(link)


def link_state(link: SecureLink, *, now: datetime | None = None) -> str:
    """ "active", "revoked", "expired" or "locked"."""
    now = now or timezone.now()
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= now:
        return "expired"
    if link.failed_attempts >= MAX_FAILED_ATTEMPTS:
        return "locked"
    return "active"


@audited("link_revoked")
def link_revoke(*, link: SecureLink) -> SecureLink:
    """Stop the link now (kept, with its openings, for the record)."""
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
    return link


PURGE_AFTER_DAYS = 30


def links_purge(*, after_days: int = PURGE_AFTER_DAYS, now: datetime | None = None) -> int:
    """Delete the file copies of links expired or revoked more than `after_days` ago (IPP
    papers should not linger); the rows and their openings stay for the record. Returns how
    many files were deleted. Meant for a daily job."""
    now = now or timezone.now()
    limit = now - timedelta(days=after_days)
    stale = SecureLink.objects.exclude(file="").filter(
        models.Q(expires_at__lt=limit) | models.Q(revoked_at__lt=limit)
    )
    count = 0
    for link in stale.iterator():
        link.file.delete(save=False)
        SecureLink.objects.filter(pk=link.pk).update(file="")
        count += 1
    if count:
        logger.info("%d secure link files purged", count)
    return count


def link_content(link: SecureLink) -> bytes:
    """The stored bytes, checked against the fingerprint taken when the link was made;
    OSError when the file is gone (purged) or altered."""
    if not link.file:
        raise OSError(f"The file of secure link {link.pk} was purged.")
    with link.file.open("rb") as stored:
        content = stored.read()
    if hashlib.sha256(content).hexdigest() != link.sha256:
        raise OSError(f"The file of secure link {link.pk} changed since it was stored.")
    return bytes(content)


def client_links(client: Client) -> QuerySet[SecureLink]:
    """The client's links, newest first, with their openings and the mail that carried them."""
    return (
        SecureLink.objects.filter(client=client)
        .select_related("created_by", "message")
        .prefetch_related("openings")
    )


def link_url(link: SecureLink) -> str:
    """The absolute address of the link's page, on COURRIER_PUBLIC_URL."""
    public = str(getattr(settings, "PUBLIC_URL", "") or "").rstrip("/")
    path = reverse("links:open", kwargs={"token": link.token})
    return f"{public or 'http://localhost:8000'}{path}"


def _shown_name(name: str) -> str:
    # The text goes into a mail body whose {CODES} are merge fields: a file name never is one.
    return name.replace("{", "(").replace("}", ")")


def _quoted(text: str) -> str:
    """The text in quotes, as the active mail language writes them."""
    return pgettext("mail", "« %(text)s »") % {"text": text}


def link_language(link: SecureLink) -> str:
    """The language a link's page speaks: the mail's that carried it."""
    return mail_language(link.language or link.client.language)


def link_mail_text(links: Sequence[SecureLink], language: str | None) -> str:
    """The paragraph a mail carries instead of its attachments: each document's name, address
    and last day, then how the code arrives; in the mail's language (fr, nl, de, en)."""
    lang = mail_language(language)
    paragraphs = []
    with override(lang):
        for link in links:
            day = timezone.localtime(link.expires_at).date()
            sentence = pgettext(
                "mail",
                "Le document « %(name)s » est disponible à l'adresse suivante jusqu'au %(date)s :",
            ) % {"name": _shown_name(link.name), "date": format_long_date(day, lang)}
            paragraphs.append(f"{sentence}\n{link_url(link)}")
        paragraphs.append(
            npgettext(
                "mail",
                "Pour l'ouvrir, un code d'accès vous est communiqué séparément.",
                "Pour les ouvrir, un code d'accès vous est communiqué séparément.",
                len(links),
            )
        )
    return "\n\n".join(paragraphs)


@dataclass(frozen=True)
class CodeMail:
    subject: str
    body: str


def link_code_text(links: Sequence[SecureLink], code: str, language: str | None) -> CodeMail:
    """The subject and body of the second mail that gives the code: the code on a line of its
    own (to copy it), the documents named as in the first mail, and what to do with it."""
    lang = mail_language(language)
    last = min(timezone.localtime(link.expires_at).date() for link in links)
    carrier = links[0].message
    with override(lang):
        names = ", ".join(_quoted(_shown_name(link.name)) for link in links)
        # Names the first mail, so that the client pairs the two.
        about = (
            pgettext("mail", " dans notre e-mail %(subject)s")
            % {"subject": _quoted(_shown_name(carrier.subject))}
            if carrier is not None and carrier.subject
            else ""
        )
        body = npgettext(
            "mail",
            "Bonjour,\n\nVoici le code d'accès au document %(names)s, que nous vous avons "
            "envoyé par lien sécurisé%(about)s :\n\n%(code)s\n\nTapez ce code sur la page qui "
            "s'ouvre quand vous cliquez sur le lien. Il est valable jusqu'au %(date)s.",
            "Bonjour,\n\nVoici le code d'accès aux documents %(names)s, que nous vous avons "
            "envoyés par liens sécurisés%(about)s :\n\n%(code)s\n\nTapez ce code sur la page "
            "qui s'ouvre quand vous cliquez sur un des liens. Il est valable jusqu'au %(date)s.",
            len(links),
        ) % {"names": names, "about": about, "code": code, "date": format_long_date(last, lang)}
        subject = pgettext("mail", "Votre code d'accès")
    return CodeMail(subject=subject, body=body)


def link_code_mail(
    *,
    links: Sequence[SecureLink],
    code: str,
    sender: Collaborator,
    language: str | None = None,
) -> OutboundMessage:
    """Send the code of `links` (one client's, sharing one code) in a second mail through the
    outbox, purpose `PURPOSE_LINK_CODE`; sent once per first link whatever the retries."""
    from courrier.mailing.services import Draft
    from courrier.mailing.services.compose import message_compose
    from courrier.mailing.services.options import ComposeOptions

    if not links:
        raise ValueError("No link to send a code for.")
    client = links[0].client
    if any(link.client_id != client.pk for link in links):
        raise ValueError("The links of one code mail belong to one client.")
    lang = mail_language(language or client.language)
    text = link_code_text(links, code, lang)
    # Not archived in the client file, nor copied to the firm's fixed Bcc: the code is the
    # client's, the mail its sender's alone (`selectors.messages_visible`).
    return message_compose(
        sender=sender,
        client=client,
        purpose=PURPOSE_LINK_CODE,
        idempotency_key=f"link-code:{links[0].pk}",
        draft=Draft(subject=text.subject, body=text.body, language=lang),
        options=ComposeOptions(archive=False, firm_bcc=False),
    )
