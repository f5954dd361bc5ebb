"""A copy of each mail sent by SMTP in the sender's "Sent" folder, by IMAP APPEND.

Gmail and Microsoft Graph file what they send themselves; an SMTP server does not, so a
profile may ask for a copy to be appended to its mailbox. The copy is a separate task run
after the message is recorded as sent: its outcome never changes the message's delivery
status (the mail left), it is kept in `OutboundMessage.sent_copy` and as a line of the
message's attempt log.

A message is copied at most once: a run first claims the message (a conditional update of
`sent_copy` to a transient marker), and before appending it searches the folder for the
message's Message-ID, so a retry after a connection that broke during APPEND finds the copy
the server had already stored instead of adding a second one. Nothing is created on the
server: a folder that does not exist is replaced by the one the server marks as its Sent
folder (RFC 6154 SPECIAL-USE), and the log says which one was used.

Its size: an IMAP client of its own (login, SPECIAL-USE, search by Message-ID, APPEND) and the
copy's claim; the claim is to reuse delivery's claim and lease machinery, which will shorten it.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import logging
import re
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from types import TracebackType
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from courrier.crypto import SecretUnreadable
from courrier.mailing.exceptions import (
    SERVER_ANSWER,
    ConfigurationError,
    MailingError,
    PermanentError,
    ProfileRejected,
    TransientError,
)
from courrier.mailing.models import (
    DeliveryAttempt,
    MessageContent,
    OutboundMessage,
    SendingProfile,
    SentCopy,
)
from courrier.mailing.tls import certificate_problem, not_tls
from courrier.texts import Lines, Text, Verbatim, said
from courrier.texts import sentence as _

if TYPE_CHECKING:
    from collections.abc import Sequence

logger = logging.getLogger("courrier.mailing")

# A run is copying the message. Not one of SentCopy's choices: it only lasts while a run
# works, and a run that died leaves it to be taken over once the lease has passed.
COPYING = "copying"

IMAPS_PORT = 993
IMAP_PORT = 143
# A copy that meets a transient failure (refused connection, time-out) is tried
# COURRIER["IMAP_MAX_ATTEMPTS"] times, back-off doubling from COURRIER["RETRY_BASE_SECONDS"].

_ATOM = re.compile(r"^[A-Za-z0-9!#$&'+,\-./:;<=>?@^_`|~]+$")
_LIST_LINE = re.compile(rb'^\((?P<attributes>[^)]*)\)\s+(?P<delimiter>"(?:[^"\\]|\\.)*"|NIL)\s*')
_CODE = re.compile(rb"^\[(?P<code>[A-Z-]+)")


# -- folder names: modified UTF-7 (RFC 3501, 5.1.3) -------------------------------------------


def mailbox_encode(name: str) -> str:
    """A folder name as IMAP spells it: printable ASCII as is, the rest in modified base64."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode()
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def mailbox_decode(name: str) -> str:
    """The readable name of a folder as IMAP spells it (left as is when it is not valid)."""

    def decode(match: re.Match[str]) -> str:
        chunk = match.group(1)
        if not chunk:
            return "&"
        padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
        return base64.b64decode(padded).decode("utf-16-be")

    try:
        return re.sub(r"&([^-]*)-", decode, name)
    except (ValueError, UnicodeDecodeError):
        return name


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquoted(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _text(data: Any) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    if isinstance(data, list | tuple):
        return " ".join(_text(item) for item in data if item is not None)
    return str(data)


def _code(answer: Any) -> str:
    """The response code of a server answer (AUTHENTICATIONFAILED, TRYCREATE, ...), or ""."""
    raw = answer if isinstance(answer, bytes) else _text(answer).encode()
    match = _CODE.match(raw.strip())
    return match.group("code").decode() if match else ""


# -- one IMAP session -------------------------------------------------------------------------


@dataclass(frozen=True)
class Folder:
    wire: str  # as the server spells it (modified UTF-7)
    attributes: frozenset[str]

    @property
    def name(self) -> str:
        return mailbox_decode(self.wire)

    @property
    def is_sent(self) -> bool:
        return "\\sent" in self.attributes


@dataclass(frozen=True)
class SentFolder:
    folder: Folder
    # The configured folder does not exist: this is the server's own Sent folder.
    fallback: bool
    configured: str


class IMAPSession:
    """A logged-in IMAP connection with the profile's settings; errors become MailingErrors."""

    def __init__(
        self,
        profile: SendingProfile,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float | None = None,
    ) -> None:
        self.profile = profile
        # Production trusts the system's authorities.
        self.ssl_context = ssl_context or ssl.create_default_context()
        default_timeout = settings.COURRIER["IMAP_TIMEOUT"]
        self.timeout = float(default_timeout if timeout is None else timeout)
        self.connection: imaplib.IMAP4 | None = None

    # -- life -------------------------------------------------------------------------------

    def __enter__(self) -> IMAPSession:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _where(self) -> dict[str, object]:
        return {"host": self.profile.imap_host.strip(), "port": self.profile.imap_port}

    def _credentials(self) -> tuple[str, str]:
        profile = self.profile
        # An empty IMAP login means "the same as SMTP": most mailboxes use one account.
        if profile.imap_username.strip():
            username, password = profile.imap_username.strip(), profile.imap_password
        else:
            username, password = profile.smtp_username.strip(), profile.smtp_password
        if not username:
            raise ConfigurationError(
                _(
                    "Aucun identifiant IMAP n'est renseigné (ni identifiant SMTP à réutiliser) : "
                    "complétez la copie dans « Éléments envoyés » du paramétrage d'envoi."
                )
            )
        if not password:
            raise ConfigurationError(
                _("Le mot de passe IMAP n'est pas renseigné pour l'identifiant %(user)s.")
                % {"user": username}
            )
        return username, password

    def open(self) -> None:
        profile = self.profile
        host = profile.imap_host.strip()
        if not host:
            raise ConfigurationError(
                _(
                    "Aucun serveur IMAP n'est renseigné : complétez la copie dans « Éléments "
                    "envoyés » du paramétrage d'envoi."
                )
            )
        username, password = self._credentials()
        security = profile.imap_security
        try:
            if security == SendingProfile.Security.SSL:
                connection: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    host, profile.imap_port, ssl_context=self.ssl_context, timeout=self.timeout
                )
            else:
                connection = imaplib.IMAP4(host, profile.imap_port, timeout=self.timeout)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise self._connect_error(exc) from exc
        self.connection = connection
        try:
            if security == SendingProfile.Security.STARTTLS:
                if "STARTTLS" not in connection.capabilities:
                    raise ProfileRejected(
                        _(
                            "Le serveur IMAP %(host)s ne propose pas STARTTLS sur le port "
                            "%(port)s. Choisissez la sécurité « SSL/TLS » si ce port est 993, ou "
                            "le port 143 avec STARTTLS."
                        )
                        % self._where(),
                        detail=" ".join(connection.capabilities),
                    )
                connection.starttls(ssl_context=self.ssl_context)
            self._login(connection, username, password)
        except MailingError:
            self.close()
            raise
        except (OSError, imaplib.IMAP4.error) as exc:
            self.close()
            raise self._connect_error(exc) from exc

    def _login(self, connection: imaplib.IMAP4, username: str, password: str) -> None:
        if "LOGINDISABLED" in connection.capabilities:
            raise ProfileRejected(
                _(
                    "Le serveur IMAP %(host)s n'accepte pas d'identifiant sur une connexion non "
                    "chiffrée : choisissez la sécurité STARTTLS (port 143) ou SSL/TLS (port 993)."
                )
                % self._where()
            )
        try:
            if (username + password).isascii():
                connection.login(username if _ATOM.match(username) else _quoted(username), password)
            elif "AUTH=PLAIN" in connection.capabilities:
                # LOGIN is ASCII only; SASL PLAIN carries UTF-8.
                token = b"\0" + username.encode() + b"\0" + password.encode()
                connection.authenticate("PLAIN", lambda _challenge: token)
            else:
                raise ProfileRejected(
                    _(
                        "Le serveur IMAP n'accepte que des identifiants et mots de passe sans "
                        "accents ni caractères spéciaux."
                    )
                )
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            answer = _text(exc.args[0] if exc.args else exc)
            code = _code(exc.args[0] if exc.args else b"")
            if code in ("UNAVAILABLE", "INUSE", "LIMIT"):
                raise TransientError(
                    _("Le serveur IMAP n'a pas pu vérifier l'identifiant pour le moment."),
                    detail=answer,
                ) from exc
            raise ProfileRejected(
                _(
                    "Le serveur IMAP %(host)s a refusé l'identifiant ou le mot de passe. "
                    "Vérifiez-les ; certains fournisseurs exigent un « mot de passe "
                    "d'application »."
                )
                % self._where(),
                detail=answer,
            ) from exc

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.logout()
        except (OSError, imaplib.IMAP4.error):
            # Nothing depends on a clean goodbye.
            with contextlib.suppress(OSError):
                connection.shutdown()

    # -- what a failure to connect means ----------------------------------------------------

    def _connect_error(self, exc: BaseException) -> MailingError:
        where = self._where()
        security = self.profile.imap_security
        detail = _text(exc.args[0]) if exc.args else repr(exc)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ProfileRejected(
                certificate_problem(exc, host=str(where["host"])), detail=str(exc)
            )
        if isinstance(exc, ssl.SSLError):
            if not not_tls(exc):
                return ProfileRejected(
                    _(
                        "La connexion chiffrée avec %(host)s a échoué (le serveur et Courrier ne "
                        "s'accordent pas sur le chiffrement)."
                    )
                    % where,
                    detail=str(exc),
                )
            if security == SendingProfile.Security.SSL:
                sentence = _(
                    "La connexion SSL/TLS au port %(port)s du serveur IMAP a échoué : ce port "
                    "n'attend sans doute pas de SSL direct. Avec le port 143, choisissez "
                    "STARTTLS ; la sécurité « SSL/TLS » s'utilise en général avec le port 993."
                )
            else:
                sentence = _(
                    "La négociation STARTTLS avec le serveur IMAP %(host)s a échoué. Vérifiez le "
                    "port et la sécurité : STARTTLS avec le port 143, SSL/TLS avec le port 993."
                )
            return ProfileRejected(sentence % where, detail=str(exc))
        if isinstance(exc, socket.gaierror):
            return TransientError(
                _(
                    "Le nom du serveur IMAP « %(host)s » est introuvable. Vérifiez son "
                    "orthographe et la connexion Internet."
                )
                % where,
                detail=str(exc),
            )
        if isinstance(exc, ConnectionRefusedError):
            return TransientError(
                _(
                    "Le serveur IMAP %(host)s refuse les connexions sur le port %(port)s. "
                    "Vérifiez le port : 993 pour SSL/TLS, 143 pour STARTTLS."
                )
                % where,
                detail=str(exc),
            )
        if isinstance(exc, TimeoutError):
            if self.profile.imap_port == IMAPS_PORT and security != SendingProfile.Security.SSL:
                # Connected, but the server waits for a TLS handshake while we wait for its
                # greeting: a settings mismatch, not a passing failure.
                return ProfileRejected(
                    _(
                        "Le port 993 attend une connexion SSL/TLS directe : choisissez la "
                        "sécurité « SSL/TLS » (ou le port 143 avec STARTTLS)."
                    ),
                    detail=str(exc) or "timed out",
                )
            return TransientError(
                _("Le serveur IMAP %(host)s ne répond pas sur le port %(port)s.") % where,
                detail=str(exc) or "timed out",
            )
        if isinstance(exc, imaplib.IMAP4.abort | OSError):
            return TransientError(
                _("La connexion au serveur IMAP %(host)s a été interrompue.") % where,
                detail=detail,
            )
        if isinstance(exc, imaplib.IMAP4.error):
            return PermanentError(
                _("Le serveur IMAP %(host)s a répondu de façon inattendue.") % where,
                detail=detail,
            )
        return TransientError(
            _("Impossible de joindre le serveur IMAP %(host)s:%(port)s.") % where, detail=detail
        )

    # -- folders ----------------------------------------------------------------------------

    def _checked(self, result: tuple[str, Any], what: str) -> list[Any]:
        typ, data = result
        if typ != "OK":
            raise PermanentError(
                _("Le serveur IMAP a refusé la commande %(command)s.") % {"command": what},
                detail=_text(data),
            )
        return list(data or [])

    def _run(self, what: str, command: Any, *args: Any) -> list[Any]:
        """Run one command; a broken connection is transient, a refusal is not."""
        try:
            return self._checked(command(*args), what)
        except imaplib.IMAP4.abort as exc:
            raise self._connect_error(exc) from exc
        except OSError as exc:
            raise self._connect_error(exc) from exc
        except imaplib.IMAP4.error as exc:
            raise PermanentError(
                _("Le serveur IMAP a refusé la commande %(command)s.") % {"command": what},
                detail=_text(exc.args[0] if exc.args else exc),
            ) from exc

    def folders(self) -> list[Folder]:
        """Every folder of the mailbox, with its attributes (\\Sent and the like)."""
        connection = self._connection()
        found = _parse_list(self._run("LIST", connection.list, '""', '"*"'))
        if "SPECIAL-USE" in connection.capabilities and not any(f.is_sent for f in found):
            # Some servers give the special-use attributes only when asked (RFC 6154).
            self._run("LIST", connection.xatom, "LIST", "(SPECIAL-USE)", '""', '"*"')
            _typ, data = connection.response("LIST")
            special = {folder.wire: folder for folder in _parse_list(list(data or []))}
            listed = {folder.wire for folder in found}
            found = [special.get(folder.wire, folder) for folder in found]
            found += [folder for wire, folder in special.items() if wire not in listed]
        return found

    def sent_folder(self, folders: Sequence[Folder] | None = None) -> SentFolder:
        """The configured folder when it exists, else the server's own Sent folder."""
        configured = self.profile.imap_sent_folder.strip()
        if folders is None:
            folders = self.folders()
        wanted = mailbox_encode(configured)
        for folder in folders:
            if configured and (
                folder.wire == wanted
                or (wanted.upper() == "INBOX" and folder.wire.upper() == "INBOX")
            ):
                return SentFolder(folder, fallback=False, configured=configured)
        for folder in folders:
            if folder.is_sent:
                return SentFolder(folder, fallback=True, configured=configured)
        names = ", ".join(f"« {folder.name} »" for folder in folders) or _("aucun")
        raise ConfigurationError(
            _(
                "Le dossier « %(folder)s » n'existe pas sur le serveur IMAP et aucun dossier n'y "
                "est marqué comme dossier des messages envoyés. Dossiers trouvés : %(folders)s. "
                "Indiquez l'un d'eux comme dossier des messages envoyés."
            )
            % {"folder": configured, "folders": names}
        )

    def contains(self, folder: Folder, message_id: str) -> bool:
        """Whether the folder already holds a message with this Message-ID."""
        connection = self._connection()
        self._run("EXAMINE", connection.select, _quoted(folder.wire), True)
        data = self._run(
            "SEARCH", connection.search, None, "HEADER", "Message-ID", _quoted(message_id)
        )
        return any(_text(line).split() for line in data)

    def append(self, folder: Folder, raw: bytes, when: datetime) -> str:
        """APPEND the bytes, marked as read, with the message's date; the server's answer."""
        connection = self._connection()
        try:
            # (typeshed says str; imaplib returns the usual (type, data) pair.)
            result: Any = connection.append(
                _quoted(folder.wire), "(\\Seen)", imaplib.Time2Internaldate(when), raw
            )
            typ, data = result
        except (imaplib.IMAP4.abort, OSError) as exc:
            # Possibly stored before the break: the next try searches before appending.
            raise self._connect_error(exc) from exc
        except imaplib.IMAP4.error as exc:
            typ, data = "NO", [exc.args[0] if exc.args else b""]
        answer = _text(data)
        if typ == "OK":
            return answer
        code = _code(data[-1] if data else b"")
        if code == "TRYCREATE":
            raise ConfigurationError(
                _("Le dossier « %(folder)s » n'existe plus sur le serveur IMAP.")
                % {"folder": folder.name},
                detail=answer,
            )
        if code == "OVERQUOTA":
            raise PermanentError(
                _("La boîte IMAP est pleine : le serveur refuse la copie du message."),
                detail=answer,
            )
        if code in ("UNAVAILABLE", "INUSE", "LIMIT", "SERVERBUG"):
            raise TransientError(
                _("Le serveur IMAP n'a pas pu enregistrer la copie pour le moment."),
                detail=answer,
            )
        raise PermanentError(
            _("Le serveur IMAP a refusé la copie du message dans « %(folder)s ».")
            % {"folder": folder.name},
            detail=answer,
        )

    def _connection(self) -> imaplib.IMAP4:
        if self.connection is None:
            raise RuntimeError("IMAP session not open")
        return self.connection


def _parse_list(lines: list[Any]) -> list[Folder]:
    """Folders from the lines of a LIST answer (a name may come as a literal)."""
    folders: list[Folder] = []
    for line in lines:
        if line is None:
            continue
        if isinstance(line, tuple):
            head, literal = line[0], line[1]
            match = _LIST_LINE.match(head)
            name = literal.decode("utf-8", "replace") if isinstance(literal, bytes) else ""
        else:
            match = _LIST_LINE.match(line)
            name = (
                _unquoted(line[match.end() :].decode("utf-8", "replace").strip()) if match else ""
            )
        if not match or not name:
            continue
        attributes = frozenset(match.group("attributes").decode().lower().split())
        if "\\noselect" in attributes or "\\nonexistent" in attributes:
            continue
        folders.append(Folder(wire=name, attributes=attributes))
    return folders


# -- the copy of a sent message ---------------------------------------------------------------


def _max_attempts() -> int:
    return int(settings.COURRIER["IMAP_MAX_ATTEMPTS"])


def _retry_delay(attempt: int) -> float:
    base = float(settings.COURRIER["RETRY_BASE_SECONDS"])
    cap = float(settings.COURRIER["RETRY_MAX_SECONDS"])
    return min(cap, base * 2 ** max(0, attempt - 1))


def _lease() -> timedelta:
    return timedelta(seconds=settings.COURRIER["SENDING_LEASE_SECONDS"])


def _message_date(message: OutboundMessage, raw: bytes) -> datetime:
    """The Date header the recipient sees, so the copy sorts where the mail was written."""
    try:
        header = BytesHeaderParser(policy=default_policy).parsebytes(raw)["Date"]
        when = getattr(header, "datetime", None)
    except (ValueError, TypeError):
        when = None
    if isinstance(when, datetime) and when.tzinfo is not None:
        return when
    return message.sent_at or timezone.now()


def sent_copy_enqueue(
    *, message_pk: int, attempt: int = 1, run_after: datetime | None = None
) -> None:
    """Enqueue the copy task of a sent message. Never raises: the mail itself has left."""
    # Imported here: the task module imports this one.
    from courrier.mailing.tasks import copy_to_sent

    try:
        task = copy_to_sent.using(run_after=run_after) if run_after else copy_to_sent
        task.enqueue(message_pk, attempt)
    except Exception:
        logger.exception(
            "message %s: the copy to the Sent folder could not be enqueued", message_pk
        )


def _claim(message: OutboundMessage) -> bool:
    now = timezone.now()
    free = Q(sent_copy="") | Q(sent_copy=COPYING, updated_at__lt=now - _lease())
    return bool(
        OutboundMessage.objects.filter(free, pk=message.pk, status=OutboundMessage.Status.SENT)
        .filter(profile__method=SendingProfile.Method.SMTP, profile__imap_enabled=True)
        .update(sent_copy=COPYING, updated_at=now)
    )


def _settle(
    message: OutboundMessage,
    *,
    state: str,
    outcome: str,
    detail: Text,
    started_at: datetime,
) -> None:
    now = timezone.now()
    with transaction.atomic():
        changed = OutboundMessage.objects.filter(pk=message.pk, sent_copy=COPYING).update(
            sent_copy=state, updated_at=now
        )
        if changed:
            DeliveryAttempt.objects.create(
                message=message,
                started_at=started_at,
                finished_at=now,
                outcome=outcome,
                detail=detail,
            )
    message.sent_copy = state


def sent_copy_append(
    *, message: OutboundMessage, attempt: int = 1, ssl_context: ssl.SSLContext | None = None
) -> None:
    """Append the stored bytes of a sent message to its sender's Sent folder, once.

    The outcome is kept in `message.sent_copy` (done / failed) and as a line of the
    message's attempt log; a transient failure is tried again later by a new task. The
    message's own status is never changed: the mail has left.
    """
    if not _claim(message):
        logger.info("message %s: no copy to make, or another run makes it", message.pk)
        return
    started_at = timezone.now()
    prefix = _("Copie dans « Éléments envoyés » (IMAP) : %(outcome)s")
    try:
        try:
            profile = SendingProfile.objects.get(pk=message.profile_id)
        except SecretUnreadable as exc:
            raise ConfigurationError(
                _(
                    "Un mot de passe enregistré du paramétrage d'envoi ne peut pas être "
                    "déchiffré : saisissez-le à nouveau."
                )
            ) from exc
        raw = bytes(
            MessageContent.objects.filter(message_id=message.pk).values_list("raw", flat=True).get()
        )
        with IMAPSession(profile, ssl_context=ssl_context) as session:
            target = session.sent_folder()
            if session.contains(target.folder, message.message_id):
                note: Text = _(
                    "le message y était déjà (copie d'un essai précédent), rien n'est ajouté."
                )
            else:
                answer = session.append(target.folder, raw, _message_date(message, raw))
                note = _("déposée dans le dossier « %(folder)s », marquée comme lue.") % {
                    "folder": target.folder.name
                }
                if answer:
                    note = Lines(note, said(SERVER_ANSWER, {"answer": Verbatim(answer)}))
    except TransientError as exc:
        if attempt < _max_attempts():
            when = timezone.now() + timedelta(seconds=_retry_delay(attempt))
            _release(message, started_at, prefix % {"outcome": exc.explanation}, when)
            sent_copy_enqueue(message_pk=message.pk, attempt=attempt + 1, run_after=when)
            logger.info("message %s: copy to Sent tried again at %s: %s", message.pk, when, exc)
            return
        reason = _("abandonné après %(count)d essais. Dernière erreur : %(error)s") % {
            "count": attempt,
            "error": exc.explanation,
        }
        _failed(
            message,
            started_at,
            prefix % {"outcome": reason},
            DeliveryAttempt.Outcome.TRANSIENT,
        )
        return
    except MailingError as exc:
        outcome = (
            DeliveryAttempt.Outcome.PROFILE
            if isinstance(exc, ConfigurationError)
            else DeliveryAttempt.Outcome.PERMANENT
        )
        _failed(message, started_at, prefix % {"outcome": exc.explanation}, outcome)
        return
    except BaseException:
        # A fault of ours: let another run take the copy over (it searches before appending).
        OutboundMessage.objects.filter(pk=message.pk, sent_copy=COPYING).update(sent_copy="")
        raise
    if target.fallback:
        note = Lines(
            note,
            _(
                "Le dossier « %(configured)s » n'existe pas : le dossier des messages envoyés du "
                "serveur, « %(folder)s », a été utilisé. Corrigez le nom du dossier dans le "
                "paramétrage d'envoi."
            )
            % {"configured": target.configured or "—", "folder": target.folder.name},
        )
    _settle(
        message,
        state=SentCopy.DONE,
        outcome=DeliveryAttempt.Outcome.SENT,
        detail=prefix % {"outcome": note},
        started_at=started_at,
    )
    logger.info("message %s: copy appended to %s", message.pk, target.folder.name)


def _release(message: OutboundMessage, started_at: datetime, detail: Text, when: datetime) -> None:
    """A transient failure: the claim is given back, the next task takes it again."""
    line = Lines(detail, _("Nouvel essai prévu le %(when)s.") % {"when": when})
    with transaction.atomic():
        if OutboundMessage.objects.filter(pk=message.pk, sent_copy=COPYING).update(
            sent_copy="", updated_at=timezone.now()
        ):
            DeliveryAttempt.objects.create(
                message=message,
                started_at=started_at,
                finished_at=timezone.now(),
                outcome=DeliveryAttempt.Outcome.TRANSIENT,
                detail=line,
            )
    message.sent_copy = ""


def _failed(message: OutboundMessage, started_at: datetime, detail: Text, outcome: str) -> None:
    _settle(message, state=SentCopy.FAILED, outcome=outcome, detail=detail, started_at=started_at)
    logger.warning("message %s: copy to Sent failed: %s", message.pk, detail)


# -- the connection test ----------------------------------------------------------------------


def imap_verify(
    profile: SendingProfile, *, ssl_context: ssl.SSLContext | None = None
) -> tuple[bool, Text]:
    """Log in with the profile's IMAP settings and find its Sent folder; never raises for a
    server's answer. Returns (success, a sentence for the user)."""
    try:
        with IMAPSession(profile, ssl_context=ssl_context) as session:
            folders = session.folders()
            target = session.sent_folder(folders)
    except MailingError as exc:
        return False, exc.explanation
    if target.fallback:
        names = ", ".join(f"« {folder.name} »" for folder in folders)
        return True, _(
            "Connexion IMAP réussie, mais le dossier « %(configured)s » n'existe pas : les copies "
            "iront dans « %(folder)s », le dossier des messages envoyés du serveur. Dossiers "
            "trouvés : %(folders)s."
        ) % {"configured": target.configured or "—", "folder": target.folder.name, "folders": names}
    return True, _(
        "Connexion IMAP réussie : une copie de chaque message envoyé sera déposée dans "
        "« %(folder)s »."
    ) % {"folder": target.folder.name}
