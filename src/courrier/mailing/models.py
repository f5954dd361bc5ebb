"""Sending profiles, templates, and the outbox that is also the archive.

Its size: the outbox's tables (profiles, templates, messages, their bytes, attempts, batches,
links) are one schema whose constraints refer to each other. The models do no I/O of their own:
no writes in `save()`, no queries behind an attribute (the services read and write).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_tasks_db.models import DBTaskResult

from courrier.crypto import EncryptedTextField
from courrier.languages import MailLanguage
from courrier.texts import ServerTextField


class SendingProfile(models.Model):
    """How one collaborator or one billing company sends mail, or how one billing company sends
    its Peppol documents (through its access point). Exactly one owner."""

    class Method(models.TextChoices):
        SMTP = "smtp", _("SMTP")
        GMAIL = "gmail", _("Gmail (OAuth2)")
        MICROSOFT = "microsoft", _("Microsoft 365 (OAuth2)")
        SENDGRID = "sendgrid", _("SendGrid")
        BREVO = "brevo", _("Brevo")
        MAILGUN = "mailgun", _("Mailgun")
        POSTMARK = "postmark", _("Postmark")
        SES = "ses", _("Amazon SES")
        # Peppol access points (`courrier.peppol.access_points`): the owner is `peppol_company`.
        BILLIT = "billit", _("Billit (Peppol)")
        RECOMMAND = "recommand", _("Recommand (Peppol)")

    class SMTPAuth(models.TextChoices):
        PASSWORD = "password", _("mot de passe")
        XOAUTH2 = "xoauth2", _("OAuth2 (XOAUTH2)")

    class OAuthProvider(models.TextChoices):
        NONE = "", _("aucun")
        GOOGLE = "google", _("Google")
        MICROSOFT = "microsoft", _("Microsoft")

    class Region(models.TextChoices):
        DEFAULT = "", _("par défaut")
        EU = "eu", _("Union européenne")
        US = "us", _("États-Unis")

    class Security(models.TextChoices):
        NONE = "none", _("aucune")
        STARTTLS = "starttls", _("STARTTLS")
        SSL = "ssl", _("SSL/TLS")

    class State(models.TextChoices):
        OK = "ok", _("en service")
        BROKEN = "broken", _("à corriger")
        RECONNECT = "reconnect", _("à reconnecter")

    collaborator = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="sending_profile",
        verbose_name=_("collaborateur"),
    )
    billing_company = models.OneToOneField(
        "firm.BillingCompany",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="sending_profile",
        verbose_name=_("société facturante"),
    )
    # A billing company's Peppol access point: a profile of a Peppol method, beside its mail one.
    peppol_company = models.OneToOneField(
        "firm.BillingCompany",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="peppol_profile",
        verbose_name=_("société facturante (Peppol)"),
    )
    method = models.CharField(
        _("méthode d'envoi"), max_length=20, choices=Method.choices, default=Method.SMTP
    )
    smtp_host = models.CharField(_("serveur SMTP"), max_length=255, blank=True)
    smtp_port = models.PositiveIntegerField(_("port"), default=587)
    smtp_security = models.CharField(
        _("sécurité"), max_length=10, choices=Security.choices, default=Security.STARTTLS
    )
    smtp_username = models.CharField(
        _("identifiant"),
        max_length=255,
        blank=True,
        help_text=_("Laisser vide si le serveur n'en demande pas."),
    )
    smtp_password = EncryptedTextField(_("mot de passe"), blank=True)
    smtp_auth = models.CharField(
        _("authentification SMTP"),
        max_length=10,
        choices=SMTPAuth.choices,
        default=SMTPAuth.PASSWORD,
    )

    # OAuth2 (Gmail, Microsoft 365, and SMTP with XOAUTH2). Tokens are secrets.
    oauth_provider = models.CharField(
        _("fournisseur OAuth"), max_length=10, choices=OAuthProvider.choices, blank=True
    )
    oauth_account = models.EmailField(
        _("compte connecté"), blank=True, help_text=_("L'adresse du compte qui a donné son accord.")
    )
    oauth_refresh_token = EncryptedTextField(_("jeton de renouvellement OAuth"), blank=True)
    oauth_access_token = EncryptedTextField(_("jeton d'accès OAuth"), blank=True)
    oauth_expires_at = models.DateTimeField(
        _("expiration du jeton d'accès OAuth"), null=True, blank=True
    )
    # msal's serialised token cache (it holds the refresh token): encrypted like any token.
    oauth_token_cache = EncryptedTextField(_("cache des jetons OAuth"), blank=True)
    oauth_scopes = models.CharField(_("autorisations OAuth accordées"), max_length=500, blank=True)
    oauth_connected_at = models.DateTimeField(_("connecté le"), null=True, blank=True)
    microsoft_mailbox = models.EmailField(
        _("boîte partagée"),
        blank=True,
        help_text=_(
            "Microsoft 365 : l'adresse d'une boîte partagée au nom de laquelle envoyer "
            "(vide : la boîte du compte connecté)."
        ),
    )

    # HTTP providers (SendGrid, Brevo, Mailgun, Postmark, Amazon SES).
    api_key = EncryptedTextField(_("clé d'API"), blank=True)
    api_region = models.CharField(
        _("région"), max_length=4, choices=Region.choices, blank=True, default=Region.DEFAULT
    )
    mailgun_domain = models.CharField(_("domaine Mailgun"), max_length=255, blank=True)
    aws_access_key_id = models.CharField(_("identifiant de clé AWS"), max_length=128, blank=True)
    aws_secret_access_key = EncryptedTextField(_("clé secrète AWS"), blank=True)
    aws_region = models.CharField(_("région AWS"), max_length=32, blank=True, default="eu-west-1")

    # Peppol access points (Billit, Recommand): the API's address (blank: the provider's
    # production address, settings.PROVIDER_URLS), the account there, and Recommand's secret.
    api_base_url = models.URLField(
        _("adresse de l'API"),
        max_length=255,
        blank=True,
        help_text=_("Vide : l'adresse de production du fournisseur."),
    )
    api_secret = EncryptedTextField(_("secret d'API"), blank=True)
    peppol_account = models.CharField(
        _("identifiant du compte chez le point d'accès"), max_length=100, blank=True
    )

    # Delivery events: each profile has its own webhook address and its own secret.
    webhook_token = models.CharField(
        _("jeton de l'adresse du webhook"), max_length=64, unique=True, null=True, blank=True
    )
    webhook_secret = EncryptedTextField(_("secret ou clé de vérification du webhook"), blank=True)

    # A copy in the sender's Sent folder for SMTP (Gmail and Graph file it themselves).
    imap_enabled = models.BooleanField(_("copier dans « Éléments envoyés » (IMAP)"), default=False)
    imap_host = models.CharField(_("serveur IMAP"), max_length=255, blank=True)
    imap_port = models.PositiveIntegerField(_("port IMAP"), default=993)
    imap_security = models.CharField(
        _("sécurité IMAP"), max_length=10, choices=Security.choices, default=Security.SSL
    )
    imap_username = models.CharField(_("identifiant IMAP"), max_length=255, blank=True)
    imap_password = EncryptedTextField(_("mot de passe IMAP"), blank=True)
    imap_sent_folder = models.CharField(
        _("dossier des messages envoyés"), max_length=255, blank=True, default="Sent"
    )
    from_name = models.CharField(_("nom de l'expéditeur"), max_length=200, blank=True)
    from_address = models.EmailField(_("adresse de l'expéditeur"))
    reply_to = models.EmailField(_("adresse de réponse"), blank=True)
    max_connections = models.PositiveSmallIntegerField(
        _("connexions simultanées"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(16)],
        help_text=_(
            "Nombre de connexions parallèles au plus vers le serveur ou le fournisseur lors d'un "
            "envoi en nombre ; respectez les limites de votre fournisseur."
        ),
    )
    state = models.CharField(_("état"), max_length=10, choices=State.choices, default=State.OK)
    # Why the profile was refused: a Text, rendered in the reader's language (courrier.texts).
    state_reason = ServerTextField(_("raison"), blank=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("paramétrage d'envoi")
        verbose_name_plural = _("paramétrages d'envoi")
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(collaborator__isnull=False)
                    & Q(billing_company__isnull=True)
                    & Q(peppol_company__isnull=True)
                )
                | (
                    Q(collaborator__isnull=True)
                    & Q(billing_company__isnull=False)
                    & Q(peppol_company__isnull=True)
                )
                | (
                    Q(collaborator__isnull=True)
                    & Q(billing_company__isnull=True)
                    & Q(peppol_company__isnull=False)
                ),
                name="sending_profile_one_owner",
            ),
        ]

    def __str__(self) -> str:
        if self.peppol_company_id is not None:
            return f"{self.peppol_company} (Peppol)"
        owner = self.collaborator or self.billing_company
        return f"{owner} <{self.from_address}>"

    @property
    def owner_label(self) -> str:
        return str(self.collaborator or self.billing_company or self.peppol_company)


# Every encrypted column of a profile. Pages never decrypt them: they defer them and read only
# whether one is stored, so that a row whose key was lost still opens.
PROFILE_SECRET_FIELDS: tuple[str, ...] = tuple(
    field.name
    for field in SendingProfile._meta.local_fields
    if isinstance(field, EncryptedTextField)
)


class MailTemplate(models.Model):
    """A named mail with one version per language. Personal unless shared with the firm."""

    class Context(models.TextChoices):
        CLIENT = "client", _("client")
        INVOICE = "invoice", _("facture")
        CREDIT_NOTE = "credit_note", _("note de crédit")
        DOCUMENT = "document", _("document")
        VAT = "vat", _("TVA")
        ISOC = "isoc", _("ISOC")
        IPP = "ipp", _("IPP")
        BNB = "bnb", _("BNB")

    name = models.CharField(_("nom"), max_length=200)
    context = models.CharField(
        _("contexte"), max_length=20, choices=Context.choices, default=Context.CLIENT
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("propriétaire"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="mail_templates",
        help_text=_("Vide : modèle du cabinet."),
    )
    shared = models.BooleanField(_("partagé avec le cabinet"), default=False)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("modèle de mail")
        verbose_name_plural = _("modèles de mail")
        ordering = ["context", "name"]

    def __str__(self) -> str:
        return self.name

    def version(self, language: str) -> MailTemplateVersion | None:
        for version in self.versions.all():
            if version.language == language:
                return version
        return None

    def languages(self) -> list[str]:
        """The languages it has a version in, in the order of the mail languages."""
        present = {version.language for version in self.versions.all()}
        return [code for code in MailLanguage.values if code in present]


class MailTemplateVersion(models.Model):
    template = models.ForeignKey(MailTemplate, on_delete=models.CASCADE, related_name="versions")
    language = models.CharField(_("langue"), max_length=2, choices=MailLanguage.choices)
    subject = models.CharField(_("sujet"), max_length=255)
    body = models.TextField(_("contenu"))

    class Meta:
        verbose_name = _("version linguistique")
        verbose_name_plural = _("versions linguistiques")
        constraints = [
            models.UniqueConstraint(
                fields=["template", "language"], name="template_language_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template} [{self.language}]"


class DeliveryStatus(models.TextChoices):
    """What a provider says happened after it accepted a message."""

    DELIVERED = "delivered", _("remis")
    DEFERRED = "deferred", _("différé")
    BOUNCED = "bounced", _("rejeté (bounce)")
    DROPPED = "dropped", _("abandonné par le fournisseur")
    COMPLAINED = "complained", _("signalé comme spam")
    OPENED = "opened", _("ouvert")
    # Peppol documents: the network's and the buyer's answers (courrier.peppol).
    REJECTED = "rejected", _("refusé par le réseau Peppol")
    ACKNOWLEDGED = "acknowledged", _("reçu par l'acheteur")
    APPROVED = "approved", _("accepté par l'acheteur")
    DISPUTED = "disputed", _("contesté par l'acheteur")
    PAID = "paid", _("payé")


class Channel(models.TextChoices):
    """How an outbound message travels: a mail, or a Peppol document (its bytes are the UBL)."""

    EMAIL = "email", _("e-mail")
    PEPPOL = "peppol", _("Peppol")


class SentCopy(models.TextChoices):
    COPYING = "copying", _("copie dans « Éléments envoyés » en cours")
    DONE = "done", _("copié dans « Éléments envoyés »")
    FAILED = "failed", _("copie dans « Éléments envoyés » impossible")


class OutboundMessage(models.Model):
    """One mail to one client, built once into bytes at compose time. The outbox and the archive."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("en file d'attente")
        SENDING = "sending", _("en cours d'envoi")
        SENT = "sent", _("envoyé")
        RETRY = "retry", _("nouvel essai prévu")
        HELD = "held", _("en attente du paramétrage")
        FAILED = "failed", _("échec")
        CANCELLED = "cancelled", _("annulé")
        UNCERTAIN = "uncertain", _("incertain")

    profile = models.ForeignKey(
        SendingProfile,
        on_delete=models.PROTECT,
        related_name="messages",
        verbose_name=_("paramétrage d'envoi"),
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("expéditeur"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sent_messages",
    )
    client = models.ForeignKey(
        "clients.Client",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("client"),
    )
    purpose = models.CharField(_("motif de l'envoi"), max_length=40, default="client")
    channel = models.CharField(
        _("canal"), max_length=10, choices=Channel.choices, default=Channel.EMAIL
    )
    # What the mail is about: a merge-field context (MailTemplate.Context) and, beyond the
    # client, the id of that context's object (an invoice, a VAT return, a document).
    context = models.CharField(_("contexte"), max_length=20, default="client")
    object_id = models.PositiveBigIntegerField(_("identifiant de l'objet"), null=True, blank=True)
    template = models.ForeignKey(
        MailTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("modèle"),
    )
    idempotency_key = models.CharField(
        _("clé d'idempotence"), max_length=200, null=True, blank=True, unique=True
    )
    archived = models.BooleanField(
        _("archivé dans la fiche client"),
        default=True,
    )
    language = models.CharField(_("langue"), max_length=2, choices=MailLanguage.choices)
    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    subject = models.CharField(_("sujet"), max_length=998)
    from_address = models.EmailField(_("adresse de l'expéditeur"))
    to = models.JSONField(_("destinataires (À)"), default=list)
    envelope_recipients = models.JSONField(_("destinataires de l'enveloppe"), default=list)
    # Copies asked for at compose time, shown in the archive. Bcc (with the firm's fixed Bcc and
    # "send me a copy") lives in the envelope only, never in the stored headers.
    cc = models.JSONField(_("copie (Cc)"), default=list, blank=True)
    bcc = models.JSONField(_("copie cachée (Cci)"), default=list, blank=True)
    read_receipt = models.BooleanField(_("accusé de réception demandé"), default=False)
    # Not sent before this moment (a scheduled send); null: as soon as possible.
    scheduled_at = models.DateTimeField(_("envoi programmé le"), null=True, blank=True)
    batch = models.ForeignKey(
        "MailBatch",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("envoi groupé"),
    )
    # The message's bytes live in MessageContent (see there); `raw` holds them once read.
    size = models.PositiveIntegerField(_("taille"), default=0)

    status = models.CharField(
        _("état"), max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(_("tentatives"), default=0)
    next_attempt_at = models.DateTimeField(_("prochain essai le"), null=True, blank=True)
    lease_expires_at = models.DateTimeField(_("réservé jusqu'au"), null=True, blank=True)
    # The run that claimed the message (a delivery run, or the copy to the Sent folder once it
    # was sent: `services/leases.py`); its later writes are conditional on it, so a run that
    # lost its claim (lease expired, message settled by the sweeper) changes nothing. It begins
    # with the name of the process that runs it (`services/workers.py`).
    claimed_by = models.CharField(
        _("réservé par la tournée d'envoi"), max_length=64, blank=True, default=""
    )
    # What went wrong last (or a remark once sent), rendered in the reader's language.
    last_error = ServerTextField(_("dernière erreur"), blank=True)
    provider_message_id = models.CharField(
        _("identifiant chez le fournisseur"), max_length=255, blank=True
    )
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    sent_at = models.DateTimeField(_("envoyé le"), null=True, blank=True)

    # What the provider reported after the hand-over (webhooks), the latest that matters.
    delivery_status = models.CharField(
        _("remise"), max_length=20, choices=DeliveryStatus.choices, blank=True, default=""
    )
    delivery_detail = models.TextField(_("détail de la remise"), blank=True)
    delivery_at = models.DateTimeField(_("remise le"), null=True, blank=True)
    # The copy in the sender's Sent folder (IMAP), for SMTP profiles that ask for it.
    sent_copy = models.CharField(
        _("copie dans « Éléments envoyés »"),
        max_length=10,
        choices=SentCopy.choices,
        blank=True,
        default="",
    )
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["profile", "status", "next_attempt_at"], name="outbox_ready"),
            models.Index(fields=["client", "-created_at"], name="outbox_client"),
            models.Index(fields=["context", "object_id"], name="outbox_context_object"),
            # The Peppol documents whose status is still asked for (courrier.peppol.status).
            models.Index(fields=["channel", "status", "updated_at"], name="outbox_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {', '.join(self.to)}"

    @property
    def blind_copies(self) -> list[str]:
        """The blind copies, for the firm's eyes: every address of the envelope that is not in
        To or Cc (typed, "send me a copy", the firm's fixed Bcc), never in the stored headers."""
        shown = {address.lower() for address in [*self.to, *self.cc]}
        found: list[str] = []
        for address in [*self.bcc, *self.envelope_recipients]:
            if address.lower() not in shown:
                shown.add(address.lower())
                found.append(address)
        return found

    # -- the bytes ----------------------------------------------------------------------------

    _raw: bytes | None = None

    @property
    def raw(self) -> bytes:
        """The message as built at compose time, once read or written by the services of
        `courrier.mailing.services.contents`. Never read here: a message whose bytes were not
        loaded raises, rather than costing a query per message in a list."""
        if self._raw is None:
            raise RawNotLoaded(self.pk)
        return self._raw

    @property
    def raw_loaded(self) -> bool:
        """Whether the bytes are on this message (read, written, or given to a test mail)."""
        return self._raw is not None

    def raw_load(self, raw: bytes) -> None:
        """Put the bytes on this message: those just read from or written to its
        MessageContent, or those of a mail that is never stored. Writes nothing."""
        self._raw = bytes(raw)


class RawNotLoaded(RuntimeError):
    """A message's bytes were asked for before they were read (a programming error)."""

    def __init__(self, pk: int | None) -> None:
        super().__init__(
            f"The bytes of message {pk} were not read: call message_bytes() or contents_load() "
            "from courrier.mailing.services.contents first."
        )


class MessageContent(models.Model):
    """The bytes of an outbound message, apart from its row.

    A message's row changes several times on its way out (claimed, sent, its delivery
    reported), and SQLite rewrites a whole row on every UPDATE: with the bytes (~50 KB for an
    invoice mail) in it, each change rewrote them. Here they are written once, at compose time,
    and read when the message is sent, re-sent, copied to a Sent folder or shown."""

    message = models.OneToOneField(
        OutboundMessage, on_delete=models.CASCADE, primary_key=True, related_name="content"
    )
    raw = models.BinaryField()

    class Meta:
        verbose_name = _("contenu du message")
        verbose_name_plural = _("contenus des messages")

    def __str__(self) -> str:
        return f"{self.message_id}: {len(self.raw)}"


class Upload(models.Model):
    """A file uploaded in the compose window, attached to the mails composed with it."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads"
    )
    file = models.FileField(upload_to="uploads/%Y/%m/")
    name = models.CharField(_("nom"), max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("fichier joint")
        verbose_name_plural = _("fichiers joints")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name


class MailBatch(models.Model):
    """One send to a selection of clients: what was asked, and how far its composing got.

    The messages are composed by a task, one per client, each under an idempotency key of the
    batch and the client, so that a task run twice queues nothing twice.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("en préparation")
        COMPOSING = "composing", _("mise en file en cours")
        DONE = "done", _("terminé")
        FAILED = "failed", _("interrompu")

    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="mail_batches"
    )
    template = models.ForeignKey(
        MailTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    subject = models.CharField(_("sujet"), max_length=998)
    body = models.TextField(_("contenu"))
    # cc, bcc, copy_to_sender, read_receipt, archive, scheduled_at (ISO), reply_to, ...
    options = models.JSONField(default=dict, blank=True)
    client_ids = models.JSONField(default=list)
    # A batch about other objects than clients (invoices, VAT returns, ...): their context and
    # ids, one mail per object; client_ids then holds each object's client, in the same order.
    context = models.CharField(max_length=20, default="client")
    object_ids = models.JSONField(default=list, blank=True)
    uploads = models.ManyToManyField(Upload, blank=True, related_name="batches")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    total = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    # client id -> the reasons it was not queued (no address, missing translation, ...), each
    # as `Text.as_json()` (plain strings in batches stored before: shown as they are)
    blocked = models.JSONField(default=dict, blank=True)
    error = ServerTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("envoi groupé")
        verbose_name_plural = _("envois groupés")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.subject} ({self.queued}/{self.total})"


class DeliveryAttempt(models.Model):
    """One try at handing a message to its transport, with the server's answer."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("envoyé")
        TRANSIENT = "transient", _("erreur temporaire")
        PERMANENT = "permanent", _("erreur définitive")
        PROFILE = "profile", _("paramétrage refusé")
        UNCERTAIN = "uncertain", _("issue inconnue")

    message = models.ForeignKey(
        OutboundMessage, on_delete=models.CASCADE, related_name="attempts_log"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    detail = ServerTextField(blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.message_id} {self.outcome} {self.started_at:%Y-%m-%d %H:%M}"


class ProfileTest(models.Model):
    """A connection test of a profile: sent outside the outbox, logged here."""

    profile = models.ForeignKey(
        SendingProfile,
        on_delete=models.CASCADE,
        related_name="tests",
        verbose_name=_("paramétrage d'envoi"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("demandé par"),
    )
    recipient = models.EmailField(
        _("destinataire"),
    )
    at = models.DateTimeField(_("date"), auto_now_add=True)
    success = models.BooleanField(
        _("réussi"),
    )
    detail = ServerTextField(_("détail"), blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("test de connexion")
        verbose_name_plural = _("tests de connexion")

    def __str__(self) -> str:
        return f"{self.profile_id} → {self.recipient} {'ok' if self.success else 'KO'}"


class DeliveryEvent(models.Model):
    """One event a provider reported about a message (webhook), kept as received."""

    message = models.ForeignKey(
        OutboundMessage, on_delete=models.CASCADE, related_name="events", null=True, blank=True
    )
    profile = models.ForeignKey(SendingProfile, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("événement"), max_length=20, choices=DeliveryStatus.choices)
    at = models.DateTimeField(_("le"))
    # The provider's id for the event: a replayed webhook is recognised and ignored.
    provider_event_id = models.CharField(max_length=255)
    recipient = models.EmailField(blank=True)
    detail = models.TextField(_("détail"), blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("événement de remise")
        verbose_name_plural = _("événements de remise")
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "provider_event_id"], name="delivery_event_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.recipient} {self.at:%Y-%m-%d %H:%M}"


class Phrase(models.Model):
    """A standard phrase ("Texte" in the compose window): a named snippet, one text per language.

    Like templates: no owner means a firm phrase (administrators manage it); otherwise it is
    personal to its owner unless shared with the firm.
    """

    name = models.CharField(_("nom"), max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("propriétaire"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="phrases",
        help_text=_("Vide : phrase du cabinet."),
    )
    shared = models.BooleanField(_("partagée avec le cabinet"), default=False)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("phrase type")
        verbose_name_plural = _("phrases types")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def version(self, language: str) -> PhraseVersion | None:
        # Reads the prefetched versions when there are some: no query per phrase in a list.
        for version in self.versions.all():
            if version.language == language:
                return version
        return None


class PhraseVersion(models.Model):
    phrase = models.ForeignKey(Phrase, on_delete=models.CASCADE, related_name="versions")
    language = models.CharField(_("langue"), max_length=2, choices=MailLanguage.choices)
    text = models.TextField(_("texte"))

    class Meta:
        verbose_name = _("version linguistique de phrase")
        verbose_name_plural = _("versions linguistiques de phrases")
        constraints = [
            models.UniqueConstraint(fields=["phrase", "language"], name="phrase_language_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.phrase} [{self.language}]"


class SecureLink(models.Model):
    """A file handed to one client as a link instead of an attachment: served by the app,
    expiring, opened with a code that reaches the client another way. The file is a copy
    taken when the link was made; the code is stored only as a hash."""

    token = models.CharField(max_length=64, unique=True)
    code_hash = models.CharField(max_length=128)
    client = models.ForeignKey(
        "clients.Client", on_delete=models.CASCADE, related_name="secure_links"
    )
    message = models.ForeignKey(
        OutboundMessage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="secure_links",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    file = models.FileField(upload_to="links/%Y/%m/")
    name = models.CharField(_("nom"), max_length=255)
    # The language of the mail that carried the link: its page speaks it, whatever the
    # client's language field says later and whatever the browser asks for.
    language = models.CharField(_("langue"), max_length=2, choices=MailLanguage.choices)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expire le"))
    revoked_at = models.DateTimeField(_("révoqué le"), null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("lien sécurisé")
        verbose_name_plural = _("liens sécurisés")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"


class LinkOpening(models.Model):
    """Every attempt to open a secure link, granted or refused, with who asked."""

    class Outcome(models.TextChoices):
        OPENED = "opened", _("ouvert")
        WRONG_CODE = "wrong_code", _("code erroné")
        EXPIRED = "expired", _("expiré")
        REVOKED = "revoked", _("révoqué")
        LOCKED = "locked", _("bloqué après trop d'essais")

    link = models.ForeignKey(SecureLink, on_delete=models.CASCADE, related_name="openings")
    at = models.DateTimeField(_("le"), auto_now_add=True)
    outcome = models.CharField(_("résultat"), max_length=20, choices=Outcome.choices)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("ouverture de lien")
        verbose_name_plural = _("ouvertures de liens")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.link_id} {self.outcome} {self.at:%Y-%m-%d %H:%M}"


class BackgroundTask(DBTaskResult):  # type: ignore[type-arg]
    """The task queue's rows (deliveries, batches, invoice composing) as the technical
    administration shows them: django-tasks-db's own admin speaks English only."""

    class Meta:
        proxy = True
        verbose_name = _("tâche en arrière-plan")
        verbose_name_plural = _("tâches en arrière-plan")


class WebhookToken(models.Model):
    """A signature token a provider's webhook used (Mailgun): remembered while its timestamp
    is fresh, so that a captured signature cannot carry another body a second time. A table
    rather than the cache: every worker process must see the tokens the others accepted."""

    profile = models.ForeignKey(SendingProfile, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=255)
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["profile", "token"], name="webhook_token_once"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} {self.token[:8]}…"
