"""Which profile sends, whether it can send now, after a profile changed, and the connection test.

The rule (DESIGN.md, "Which profile sends"): a mail about an invoice, an invoice batch and the
"@" re-send go out through the invoice's billing company; everything else through the
collaborator who sends it. A missing profile is an error before anything is queued: there is
never a fallback from one mailbox to the other.
"""

from __future__ import annotations

import imaplib
import logging
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import BooleanField, Case, Q, QuerySet, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from courrier.crypto import SecretUnreadable, secrets_unreadable
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing import methods
from courrier.mailing.advice import failure_hint
from courrier.mailing.exceptions import (
    ConfigurationError,
    MailingError,
    PermanentError,
    ProfileMissing,
    ProfileRejected,
)
from courrier.mailing.methods.base import mailbox_connected
from courrier.mailing.methods.base import oauth_configured as oauth_configured  # the pages ask
from courrier.mailing.models import (
    PROFILE_SECRET_FIELDS,
    OutboundMessage,
    ProfileTest,
    SendingProfile,
)
from courrier.mailing.services.delivery import enqueue_on_commit
from courrier.mailing.services.events import profile_webhook
from courrier.mailing.transports import transport_for
from courrier.mailing.transports.imap import imap_verify
from courrier.texts import Lines, Text, text_of
from courrier.texts import sentence as _

logger = logging.getLogger("courrier.mailing")

Status = OutboundMessage.Status
Method = SendingProfile.Method

SECRET_FIELDS = PROFILE_SECRET_FIELDS
# What the methods' declarations say (`mailing.methods`), as the settings pages ask it: the
# methods whose mailbox is connected (to which OAuth provider), and those whose provider reports
# delivery events to the profile's own webhook address.
OAUTH_METHODS: dict[str, str] = {
    method.code: method.oauth_provider for method in methods.declared() if method.oauth_provider
}
WEBHOOK_METHODS = frozenset(method.code for method in methods.declared() if method.webhook)


# -- which profile sends ----------------------------------------------------------------------


def _unreadable(where: Text) -> ConfigurationError:
    return ConfigurationError(
        _(
            "Un secret enregistré dans le paramétrage d'envoi (mot de passe, clé, jeton) ne peut "
            "plus être lu : la clé de chiffrement de l'installation a changé. Saisissez-le à "
            "nouveau dans %(where)s."
        )
        % {"where": where}
    )


def profile_for(
    *, sender: Collaborator, billing_company: BillingCompany | None = None
) -> SendingProfile:
    """The profile that sends: the billing company's when one is given, else the sender's.

    Raises ProfileMissing (naming the company when it is the company's that is missing), or
    ConfigurationError when a stored secret cannot be decrypted. Never falls back."""
    if billing_company is not None:
        where = company_settings_label(billing_company)
        try:
            profile = SendingProfile.objects.filter(billing_company=billing_company).first()
        except SecretUnreadable as exc:
            raise _unreadable(where) from exc
        if profile is None:
            raise ProfileMissing(
                _(
                    "La société facturante %(company)s n'a pas de paramétrage d'envoi : un "
                    "administrateur doit le compléter dans %(where)s. Rien n'a été mis en file "
                    "d'attente."
                )
                % {"company": billing_company, "where": where}
            )
        return profile
    try:
        profile = SendingProfile.objects.filter(collaborator=sender).first()
    except SecretUnreadable as exc:
        raise ConfigurationError(
            _(
                "Le mot de passe enregistré dans votre paramétrage d'envoi ne peut plus être lu "
                "(la clé de chiffrement de l'installation a changé) : saisissez-le à nouveau "
                "dans « Ma fiche »."
            )
        ) from exc
    if profile is None:
        raise ProfileMissing()
    return profile


def company_settings_label(company: BillingCompany) -> Text:
    return _("« Sociétés facturantes › %(company)s › Paramétrage d'envoi »") % {"company": company}


def peppol_settings_label(company: BillingCompany) -> Text:
    return _("« Sociétés facturantes › %(company)s › Peppol »") % {"company": company}


def settings_label(profile: SendingProfile) -> Text:
    """Where a person corrects this profile, in words."""
    if profile.peppol_company_id is not None and profile.peppol_company is not None:
        return peppol_settings_label(profile.peppol_company)
    company = profile.billing_company if profile.billing_company_id is not None else None
    if company is not None:
        return company_settings_label(company)
    return _("« Ma fiche »")


def settings_url(profile: SendingProfile, *, viewer: Collaborator | None = None) -> str:
    """The page on which this profile is corrected (empty when `viewer` may not open it)."""
    if profile.peppol_company_id is not None:
        if viewer is not None and not viewer.is_firm_admin:
            return ""
        return reverse("mailing:company_peppol", args=[profile.peppol_company_id])
    if profile.billing_company_id is not None:
        if viewer is not None and not viewer.is_firm_admin:
            return ""
        return reverse("mailing:company_profile", args=[profile.billing_company_id])
    url = reverse("mailing:my_profile")
    if viewer is not None and profile.collaborator_id != viewer.pk:
        if not viewer.is_firm_admin:
            return ""
        return f"{url}?collaborator={profile.collaborator_id}"
    return url


def oauth_connected(profile: SendingProfile) -> bool:
    """Whether the mailbox of the profile's method was connected and not disconnected since."""
    expected = OAUTH_METHODS.get(profile.method)
    if expected is None and profile.smtp_auth == SendingProfile.SMTPAuth.XOAUTH2:
        expected = profile.oauth_provider or None
    return mailbox_connected(profile, expected)


def profile_unready(profile: SendingProfile) -> Text | None:
    """Why this profile cannot send as it is configured (a sentence), or None when it can: the
    readiness rule its method declares (`mailing.methods`).

    About the settings only (the settings pages say it); whether the profile can send now,
    its state included, is `profile_blocker`'s."""
    method = methods.get(profile.method)
    if method is None:
        return None
    return method.unready(profile, settings_label(profile))


def profile_blocker(profile: SendingProfile) -> Text | None:
    """Whether this profile can send now: None when it can, else why not, in one sentence
    that says where it is corrected.

    The one rule for "is this profile usable", read by every pre-send check (the compose
    window's, a batch's, the invoice register's and `courrier send-invoices`) and by compose
    itself, which refuses to store a mail the rule blocks. The state comes first (the server
    refused the profile, or its mailbox is to reconnect), then the settings (`profile_unready`:
    a server, an API key, a connected mailbox missing)."""
    where = settings_label(profile)
    if profile.state == SendingProfile.State.RECONNECT:
        reason = profile.state_reason or _("l'accès à la boîte mail a été retiré ou a expiré.")
        return _(
            "La boîte mail du paramétrage d'envoi est à reconnecter : %(reason)s "
            "Reconnectez-la dans %(where)s ; les messages en attente repartiront ensuite."
        ) % {"reason": reason, "where": where}
    if profile.state != SendingProfile.State.OK:
        reason = profile.state_reason or _("le serveur l'a refusé.")
        return _(
            "Le paramétrage d'envoi est à corriger avant d'envoyer : %(reason)s "
            "Corrigez-le dans %(where)s ; les messages en attente repartiront ensuite."
        ) % {"reason": reason, "where": where}
    return profile_unready(profile)


def profile_error(profile: SendingProfile) -> ConfigurationError | None:
    """`profile_blocker` as the error compose raises: ProfileRejected when the profile's state
    stops it, ConfigurationError when its settings are incomplete, None when it can send."""
    blocker = profile_blocker(profile)
    if blocker is None:
        return None
    if profile.state != SendingProfile.State.OK:
        return ProfileRejected(blocker)
    return ConfigurationError(blocker)


# -- reads for the settings pages -------------------------------------------------------------


def profiles_for_page() -> QuerySet[SendingProfile]:
    """Profiles with every secret deferred and `has_<secret>` annotations instead."""
    flags = {
        f"has_{name}": Case(
            When(Q(**{name: ""}) | Q(**{f"{name}__isnull": True}), then=Value(False)),
            default=Value(True),
            output_field=BooleanField(),
        )
        for name in SECRET_FIELDS
    }
    return (
        SendingProfile.objects.select_related("collaborator", "billing_company")
        .defer(*SECRET_FIELDS)
        .annotate(**flags)
    )


def profile_for_page(
    *, collaborator: Collaborator | None = None, billing_company: BillingCompany | None = None
) -> SendingProfile | None:
    """The profile of one owner for its settings page, secrets unread (see profiles_for_page)."""
    if billing_company is not None:
        return profiles_for_page().filter(billing_company=billing_company).first()
    return profiles_for_page().filter(collaborator=collaborator).first()


def secrets_stored(profile: SendingProfile | None) -> dict[str, bool]:
    """Which secrets a page-loaded profile holds (all False for a new one)."""
    return {
        name: bool(profile is not None and getattr(profile, f"has_{name}", False))
        for name in SECRET_FIELDS
    }


def profile_key_problem(*, profile: SendingProfile) -> str:
    """A sentence when the installation's encryption key cannot read one of the profile's
    stored secrets (empty when all read); the secrets themselves are never loaded."""
    if profile.pk is None:
        return ""
    unreadable = secrets_unreadable(
        SendingProfile.objects.filter(pk=profile.pk), SECRET_FIELDS, rows=1
    )
    if not unreadable:
        return ""
    labels = ", ".join(
        str(getattr(SendingProfile._meta.get_field(name), "verbose_name", name))
        for name in unreadable
    )
    return gettext(
        "La clé de chiffrement de l'installation ne peut pas lire un secret enregistré de ce "
        "paramétrage (%(secrets)s) : rien ne part par lui. Remettez l'ancienne clé dans "
        "COURRIER_ENCRYPTION_KEYS, ou saisissez ce secret à nouveau et enregistrez."
    ) % {"secrets": labels}


def held_count(profile: SendingProfile) -> int:
    return OutboundMessage.objects.filter(profile_id=profile.pk, status=Status.HELD).count()


@dataclass(frozen=True)
class WebhookAddress:
    url: str  # empty when the installation has no public address
    path: str
    hint: str  # what to configure at the provider


def profile_webhook_address(*, profile: SendingProfile) -> WebhookAddress:
    """Where the profile's provider posts its delivery events (its own token, made on first
    need), and what to configure there. No URL without COURRIER_PUBLIC_URL: a provider cannot
    reach a private address."""
    path, hint = profile_webhook(profile=profile)
    public = str(getattr(settings, "PUBLIC_URL", "") or "").rstrip("/")
    return WebhookAddress(url=f"{public}{path}" if public else "", path=path, hint=hint)


# -- after a change ---------------------------------------------------------------------------


def profile_updated(*, profile: SendingProfile) -> int:
    """After the profile was saved: back in service, its held messages queued again and
    delivery enqueued. Returns the number of messages that resume."""
    with transaction.atomic():
        SendingProfile.objects.filter(pk=profile.pk).update(
            state=SendingProfile.State.OK, state_reason=""
        )
        profile.state, profile.state_reason = SendingProfile.State.OK, ""
        resumed = OutboundMessage.objects.filter(profile_id=profile.pk, status=Status.HELD).update(
            status=Status.QUEUED, next_attempt_at=None, updated_at=timezone.now()
        )
        if resumed:
            enqueue_on_commit(profile.pk)
    if resumed:
        logger.info("profile %s updated: %d held messages queued again", profile.pk, resumed)
    return resumed


def profile_saved(*, profile: SendingProfile) -> int:
    """After the settings form saved the profile: when it can send, it is back in service and
    its held messages resume (see profile_updated). A mailbox whose consent is gone stays "to
    reconnect" until it is connected again: saving other settings does not bring it back.
    Returns the number of messages that resume."""
    if profile.method in WEBHOOK_METHODS:
        profile_webhook(profile=profile)  # the provider needs the address from now on
    if profile_unready(profile):
        return 0
    if profile.state == SendingProfile.State.RECONNECT and (
        profile.method in OAUTH_METHODS or profile.smtp_auth == SendingProfile.SMTPAuth.XOAUTH2
    ):
        return 0
    return profile_updated(profile=profile)


# -- the connection test ----------------------------------------------------------------------

# The test connects wherever the profile says: for a collaborator it must not become a way to
# map the firm's network (closed, open and SMTP-answering ports answering differently). So a
# collaborator tests only mail ports (and the installation's own, COURRIER["TEST_PORTS"]), a
# few times in ten minutes, and every failure to reach the server reads the same; an
# administrator tests any port and sees the full diagnosis.
SMTP_TEST_PORTS = frozenset({25, 465, 587, 2525})
IMAP_TEST_PORTS = frozenset({143, 993})
TESTS_PER_WINDOW = 5
TESTS_WINDOW = timedelta(minutes=10)


def _allowed(port: int, ports: Iterable[int]) -> bool:
    extra = settings.COURRIER.get("TEST_PORTS") or ()
    try:
        extra_ports = {int(value) for value in extra}
    except (TypeError, ValueError):
        extra_ports = set()
    return port in set(ports) | extra_ports


def profile_test_refusal(*, profile: SendingProfile, requested_by: Collaborator) -> Text | None:
    """Why `requested_by` may not run the connection test of `profile` now (a sentence), or
    None. Administrators are never refused."""
    if requested_by.is_firm_admin:
        return None
    since = timezone.now() - TESTS_WINDOW
    if ProfileTest.objects.filter(requested_by=requested_by, at__gte=since).count() >= (
        TESTS_PER_WINDOW
    ):
        return _(
            "Vous avez lancé plusieurs tests en quelques minutes : attendez dix minutes avant "
            "d'en lancer un autre."
        )
    if profile.method == Method.SMTP and not _allowed(profile.smtp_port, SMTP_TEST_PORTS):
        return _(
            "Le port %(port)s n'est pas un port d'envoi de mail (25, 465, 587 ou 2525) : "
            "seul un administrateur peut tester ce paramétrage."
        ) % {"port": profile.smtp_port}
    if (
        profile.method == Method.SMTP
        and profile.imap_enabled
        and not _allowed(profile.imap_port, IMAP_TEST_PORTS)
    ):
        return _(
            "Le port IMAP %(port)s n'est pas un port de boîte mail (143 ou 993) : seul un "
            "administrateur peut tester ce paramétrage."
        ) % {"port": profile.imap_port}
    return None


def _unreachable(exc: BaseException) -> bool:
    """Whether the connection failed before any mail server answered: refused, timed out, a
    name that does not resolve, a TLS handshake or a greeting that is not SMTP/IMAP."""
    cause = exc.__cause__
    if isinstance(cause, smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected):
        return True
    if isinstance(cause, smtplib.SMTPException):
        return False  # the server spoke SMTP: a refused login, no STARTTLS, ...
    if isinstance(cause, imaplib.IMAP4.abort | OSError):
        return True
    if isinstance(cause, imaplib.IMAP4.error):
        # An IMAP server's refusal of the login is a ProfileRejected or TransientError; a
        # greeting that is not IMAP, a PermanentError.
        return isinstance(exc, PermanentError)
    return False


def _cannot_reach(host: str, port: int) -> Text:
    return _(
        "Le serveur %(host)s:%(port)s ne peut pas être joint. Vérifiez l'adresse, le port et la "
        "sécurité ; un administrateur peut voir le diagnostic détaillé en lançant le test."
    ) % {"host": host.strip(), "port": port}


def profile_route(profile: SendingProfile) -> Text:
    """How this profile's mail leaves, in words (the test mail and the log say it): the route
    sentence its method declares."""
    method = methods.get(profile.method)
    if method is None:
        return _("l'API %(provider)s") % {"provider": profile.get_method_display()}
    return method.route(profile)


def profile_verify(
    *, profile: SendingProfile, requested_by: Collaborator, recipient: str
) -> ProfileTest:
    """Send a test mail now, outside the outbox, and log it as a ProfileTest.

    Server and configuration errors do not raise: the ProfileTest says what went wrong and
    what the server answered. An invalid recipient address raises ValidationError.
    """
    # Imported here: compose imports this module for the profile rule.
    from courrier.mailing.services.mime import display_name, message_id_for

    validate_email(recipient)
    route = profile_route(profile)
    name = profile.from_name.strip() or profile.owner_label
    mail = EmailMultiAlternatives(
        # The test mail goes to the person who clicked: in their language, now.
        subject=gettext("Courrier : message de test"),
        body=gettext(
            "Ce message confirme que le paramétrage d'envoi de %(owner)s fonctionne : il est "
            "passé par %(route)s.\n"
        )
        % {"owner": profile.owner_label, "route": route},
        from_email=f"{display_name(name)} <{profile.from_address}>",
        to=[recipient],
        reply_to=[profile.reply_to] if profile.reply_to else None,
        headers={"Message-ID": message_id_for(profile.from_address)},
    )
    raw = mail.message().as_bytes(linesep="\r\n")
    # Never saved: the bytes are only handed to the transport.
    test_message = OutboundMessage(
        envelope_recipients=[recipient], from_address=profile.from_address
    )
    test_message.raw_load(raw)
    unready = profile_unready(profile)
    detail: Text
    if unready:
        success, detail = False, unready
    else:
        try:
            with transport_for(profile) as transport:
                answer = transport.send(test_message)
        except MailingError as exc:
            success = False
            if _unreachable(exc) and not requested_by.is_firm_admin:
                logger.info("profile %s test: %s", profile.pk, " ".join(str(exc).split()))
                detail = Lines(
                    _cannot_reach(profile.smtp_host, profile.smtp_port), failure_hint(profile)
                )
            else:
                detail = Lines(exc.explanation, failure_hint(profile))
        else:
            success = True
            detail = _(
                "Le serveur a accepté le message de test. Réponse du serveur : %(answer)s"
            ) % {"answer": answer}
    test = ProfileTest.objects.create(
        profile=profile,
        requested_by=requested_by,
        recipient=recipient,
        success=success,
        detail=detail,
    )
    logger.info(
        "profile %s test to %s via %s (%s): %s",
        profile.pk,
        recipient,
        route,
        "ok" if success else "failed",
        " ".join(str(detail).split()),
    )
    return test


def profile_imap_verify(
    *, profile: SendingProfile, requested_by: Collaborator | None = None
) -> tuple[bool, Text] | None:
    """Test the copy into the Sent folder (IMAP) of an SMTP profile that asks for one.

    None when there is nothing to test (another method, or no copy asked). A server out of
    reach reads the same whatever the reason, unless `requested_by` is an administrator (or
    not given: a command line)."""
    if profile.method != Method.SMTP or not profile.imap_enabled:
        return None

    def explained(exc: MailingError) -> Text:
        if requested_by is not None and not requested_by.is_firm_admin and _unreachable(exc):
            logger.info("profile %s IMAP test: %s", profile.pk, " ".join(str(exc).split()))
            return _cannot_reach(profile.imap_host, profile.imap_port)
        return exc.explanation

    try:
        success, sentence = imap_verify(profile, explain=explained)
    except MailingError as exc:
        return False, explained(exc)
    return bool(success), text_of(sentence)
