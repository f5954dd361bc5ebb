"""The IMAP client of an SMTP profile's mailbox: log in, find its Sent folder, search, APPEND.

Gmail and Microsoft Graph file what they send themselves; an SMTP server does not, so a profile
may ask for a copy of each mail in its mailbox (`services/sent_copy.py` decides which messages,
when, and how often). This module is the protocol part. It is no transport (nothing is sent
through it, it is no entry of `TRANSPORTS`), but it lives beside them because it is built the
same way: from one `SendingProfile` row, used as a context manager, every failure raised as an
error of `courrier.mailing.exceptions` with a sentence that says what to correct.

Nothing is created on the server: a folder that does not exist is replaced by the one the
server marks as its Sent folder (RFC 6154 SPECIAL-USE), and the caller says which one was used.
`imap_verify` is the IMAP part of a profile's connection test.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from django.conf import settings

from courrier.mailing.exceptions import (
    ConfigurationError,
    MailingError,
    PermanentError,
    ProfileRejected,
    TransientError,
)
from courrier.mailing.models import SendingProfile
from courrier.mailing.tls import certificate_problem, not_tls
from courrier.texts import Text
from courrier.texts import sentence as _

if TYPE_CHECKING:
    from collections.abc import Sequence

IMAPS_PORT = 993
IMAP_PORT = 143


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


# -- the connection test ----------------------------------------------------------------------


def imap_verify(
    profile: SendingProfile,
    *,
    ssl_context: ssl.SSLContext | None = None,
    explain: Callable[[MailingError], Text] | None = None,
) -> tuple[bool, Text]:
    """Log in with the profile's IMAP settings and find its Sent folder; never raises for a
    server's answer. Returns (success, a sentence for the user); `explain` words a failure
    (default: the error's own explanation)."""
    try:
        with IMAPSession(profile, ssl_context=ssl_context) as session:
            folders = session.folders()
            target = session.sent_folder(folders)
    except MailingError as exc:
        return False, explain(exc) if explain is not None else exc.explanation
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
