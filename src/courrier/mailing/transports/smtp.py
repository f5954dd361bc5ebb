"""SMTP: Django's SMTP backend opens the connection, then the stored bytes are handed over.

Django's backend does the connecting, STARTTLS and login. The mail transaction itself
(MAIL, RCPT, DATA) is run here step by step rather than through `sendmail`, because the
moment a failure happens decides what it means: a break before the end of the data means
the server cannot have taken the message (tried again), a break while waiting for the
server's final answer means it may have (never resent automatically).

With PIPELINING (RFC 2920) announced, MAIL, every RCPT and DATA go out in one write and
their replies are read afterwards, in order: one round trip before the data instead of one per
command. All of them are read before anything is decided, so that the connection stays in
step, and each outcome means what it means step by step. The data still waits for a 354. A
server may answer DATA with 354 although the transaction is refused: with nobody accepted, a
lone "." ends it; with some recipients accepted but the message held back (one deferred), the
connection is closed instead, since the "." would mail them an empty message.

Two faults cost as little as they can: the login is one AUTH (smtplib's `login` tries every
mechanism offered, and a wrong password counted two or three times against the provider's
lock-out), and a time-out leaves the transport "stalled" for the rest of its run, so that the
messages after it are not each given to a server that no longer answers. Addresses go out with
their domain in ASCII (`courrier.mailing.addresses`), with SMTPUTF8 for accents before the @
when the server offers it.

Its size: one protocol conversation, step by step, with the meaning of each failure at each
step (retry, uncertain, refused) and the sentences that explain them; split, the rule "what a
break means here" would be read in two places.
"""

from __future__ import annotations

import functools
import hashlib
import smtplib
import socket
import ssl
import threading
import time
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend
from django.utils.functional import cached_property

from courrier.mailing.addresses import AddressError, address_ascii, needs_smtputf8
from courrier.mailing.exceptions import (
    DeliveryUncertain,
    MailingError,
    NeedsReconnect,
    PermanentError,
    ProfileRejected,
    TransientError,
)
from courrier.mailing.tls import certificate_problem, not_tls
from courrier.mailing.transports.base import Transport
from courrier.texts import Lines, Text
from courrier.texts import sentence as _

if TYPE_CHECKING:
    from courrier.mailing.models import OutboundMessage, SendingProfile


SSL_PORT = 465
SUBMISSION_PORT = 587
RELAY_PORT = 25


class _ConnectionDropped(Exception):
    """A reused connection ended by the server before this message began."""


def _login_once(connection: smtplib.SMTP, user: str, password: str) -> tuple[int, bytes]:
    """One AUTH with the best mechanism the server offers, where smtplib's `login` tries every
    offered one in turn: a refused password then counts once, not two or three times, against
    the provider's lock-out and the server's fail2ban. Over TLS, PLAIN first: every server
    checks it against the password as stored (a CRAM-MD5 can fail for a right password);
    without TLS, CRAM-MD5 first, which keeps the password off the wire."""
    connection.ehlo_or_helo_if_needed()
    if not connection.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    offered = connection.esmtp_features["auth"].upper().split()
    encrypted = isinstance(connection.sock, ssl.SSLSocket)
    preferred = ("PLAIN", "LOGIN", "CRAM-MD5") if encrypted else ("CRAM-MD5", "PLAIN", "LOGIN")
    mechanism = next((name for name in preferred if name in offered), None)
    if mechanism is None:
        raise smtplib.SMTPException("No suitable authentication method found.")
    connection.user, connection.password = user, password
    answer = getattr(connection, "auth_" + mechanism.lower().replace("-", "_"))
    # The lanes of one run (one connection each) log in within moments of each other: they
    # take turns, and those after a refusal of the same login are refused without asking.
    key = hashlib.sha256(
        f"{connection.sock.getpeername() if connection.sock else ''}\0{user}\0{password}".encode()
    ).hexdigest()
    with _LOGINS_LOCK:
        lock = _LOGIN_LOCKS.setdefault(key, threading.Lock())
    with lock:
        refused_at = _REFUSED_LOGINS.get(key)
        if refused_at is not None and time.monotonic() - refused_at < _REFUSAL_MEMORY:
            raise smtplib.SMTPAuthenticationError(
                535, b"refused moments ago on another connection (not asked again)"
            )
        try:
            return connection.auth(mechanism, answer)
        except smtplib.SMTPAuthenticationError as exc:
            if 500 <= exc.smtp_code < 600:
                _REFUSED_LOGINS[key] = time.monotonic()
            raise


# Logins (server, user, password: a digest, never the password) refused by their server in
# this process, and when; the lanes of one run share them (see `_login_once`).
_REFUSAL_MEMORY = 10.0
_REFUSED_LOGINS: dict[str, float] = {}
_LOGIN_LOCKS: dict[str, threading.Lock] = {}
_LOGINS_LOCK = threading.Lock()


class _SMTP(smtplib.SMTP):
    def login(
        self, user: str, password: str, *, initial_response_ok: bool = True
    ) -> tuple[int, bytes]:
        return _login_once(self, user, password)


class _SMTPSSL(smtplib.SMTP_SSL):
    def login(
        self, user: str, password: str, *, initial_response_ok: bool = True
    ) -> tuple[int, bytes]:
        return _login_once(self, user, password)


class _Backend(EmailBackend):
    """Django's SMTP backend with the TLS context given by the caller (a test trusts its CA),
    logging in with a single AUTH (`_login_once`)."""

    def __init__(self, *, tls_context: ssl.SSLContext | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tls_context = tls_context

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return _SMTPSSL if self.use_ssl else _SMTP

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        return self._tls_context or ssl.create_default_context()


class _NoXOAuth2(smtplib.SMTPException):
    """The server offers no XOAUTH2 login."""


class _XOAuth2Backend(_Backend):
    """Django's backend logging in with an OAuth2 bearer token (AUTH XOAUTH2), not a password."""

    def __init__(self, *, oauth_user: str, oauth_token: str, **kwargs: Any) -> None:
        # Without a username and a password Django does not log in itself.
        super().__init__(username="", password="", **kwargs)
        self._initial = f"user={oauth_user}\x01auth=Bearer {oauth_token}\x01\x01"

    def open(self) -> bool | None:
        opened = super().open()
        connection = self.connection
        if opened and connection is not None:
            connection.ehlo_or_helo_if_needed()
            mechanisms = connection.esmtp_features.get("auth", "").upper().split()
            if "XOAUTH2" not in mechanisms:
                raise _NoXOAuth2(f"AUTH {' '.join(mechanisms)}".strip())
            connection.auth("XOAUTH2", self._response)
        return opened

    def _response(self, challenge: bytes | None = None) -> str:
        # A refusing server first sends its reason as a challenge; the answer to it is empty.
        return self._initial if challenge is None else ""


def oauth_bearer(profile: SendingProfile, *, refused: str = "") -> str:
    """The profile's OAuth2 access token (`refused`: the one the server just refused)."""
    # Imported here: only XOAUTH2 profiles need the OAuth providers.
    from courrier.mailing import oauth

    if not refused:
        return oauth.access_token(profile)
    token: str = oauth.provider_module(profile.oauth_provider).access_token(
        profile, refused=refused
    )
    return token


def _answer(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {' '.join(text.split())}".strip()


class SMTPTransport(Transport):
    """Sends stored messages through the profile's SMTP server over one connection."""

    max_message_bytes = 25_000_000

    def __init__(
        self,
        profile: SendingProfile,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__(profile)
        # Production uses the system's trusted authorities (ssl.create_default_context()).
        self.ssl_context = ssl_context
        self.timeout = float(settings.COURRIER["SMTP_TIMEOUT"] if timeout is None else timeout)
        self._backend: _Backend | None = None
        self._transactions = 0  # mail transactions begun on the current connection
        # The server stopped answering (a time-out): not asked again by this transport.
        self._stalled = False

    # -- connection -------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._backend is not None and self._backend.connection is not None

    def open(self) -> None:
        if self.is_open:
            return
        if self._stalled:
            # A server that left one command unanswered for the whole time-out is not asked
            # again in this run: each message would wait as long. They are tried later.
            raise TransientError(
                _(
                    "Non essayé : le serveur %(host)s a cessé de répondre pendant cet envoi. "
                    "Le message sera réessayé plus tard."
                )
                % self._where()
            )
        profile = self.profile
        if not profile.smtp_host.strip():
            raise ProfileRejected(
                _("Aucun serveur SMTP n'est renseigné : complétez le paramétrage d'envoi.")
            )
        if profile.smtp_auth == profile.SMTPAuth.XOAUTH2:
            self._open_xoauth2()
            return
        if profile.smtp_username and not profile.smtp_password:
            raise ProfileRejected(
                _(
                    "Un identifiant est renseigné sans mot de passe : saisissez le mot de passe de "
                    "la boîte d'envoi, ou videz l'identifiant s'il s'agit d'un relais sans login."
                )
            )
        backend = self._new_backend(
            _Backend, username=profile.smtp_username, password=profile.smtp_password
        )
        try:
            backend.open()
        except (smtplib.SMTPException, OSError) as exc:
            _quietly_close(backend)
            raise self._open_error(exc) from exc
        self._backend = backend
        self._transactions = 0

    def _new_backend(self, backend_class: type[_Backend], **credentials: Any) -> _Backend:
        profile = self.profile
        security = profile.smtp_security
        return backend_class(
            tls_context=self.ssl_context,
            host=profile.smtp_host.strip(),
            port=profile.smtp_port,
            use_tls=security == profile.Security.STARTTLS,
            use_ssl=security == profile.Security.SSL,
            timeout=self.timeout,
            fail_silently=False,
            **credentials,
        )

    def _open_xoauth2(self) -> None:
        """Log in with the mailbox's OAuth2 access token. A refused token (535) is replaced by a
        fresh one once; refused again, the mailbox must be connected again."""
        profile = self.profile
        user = profile.smtp_username or profile.oauth_account or profile.from_address
        token = oauth_bearer(profile)
        for attempt in range(2):
            backend = self._new_backend(_XOAuth2Backend, oauth_user=user, oauth_token=token)
            try:
                backend.open()
            except _NoXOAuth2 as exc:
                _quietly_close(backend)
                raise ProfileRejected(
                    _(
                        "Le serveur %(host)s n'accepte pas la connexion OAuth2 (XOAUTH2) : "
                        "choisissez l'authentification par mot de passe, ou le serveur de votre "
                        "fournisseur (smtp.office365.com, smtp.gmail.com)."
                    )
                    % self._where(),
                    detail=str(exc),
                ) from exc
            except smtplib.SMTPAuthenticationError as exc:
                _quietly_close(backend)
                if not 500 <= exc.smtp_code < 600:
                    raise self._open_error(exc) from exc
                if attempt == 0:
                    token = oauth_bearer(profile, refused=token)
                    continue
                raise NeedsReconnect(
                    _(
                        "Le serveur %(host)s refuse l'accès OAuth2 de la boîte %(user)s : "
                        "reconnectez-la dans le paramétrage d'envoi. Si le refus persiste, "
                        "l'administrateur de la messagerie doit autoriser l'envoi SMTP "
                        "authentifié pour cette boîte."
                    )
                    % {"host": profile.smtp_host, "user": user},
                    detail=_answer(exc.smtp_code, exc.smtp_error),
                    code=exc.smtp_code,
                ) from exc
            except (smtplib.SMTPException, OSError) as exc:
                _quietly_close(backend)
                raise self._open_error(exc) from exc
            self._backend = backend
            self._transactions = 0
            return

    def close(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            _quietly_close(backend)

    # -- sending ----------------------------------------------------------------------------

    def send(self, message: OutboundMessage) -> str | Text:
        try:
            return self._send_once(message)
        except _ConnectionDropped:
            # Nothing of this message was handed over: once more, on a new connection.
            self.close()
            return self._send_once(message)

    def _send_once(self, message: OutboundMessage) -> str | Text:
        self.open()
        assert self._backend is not None and self._backend.connection is not None
        connection = self._backend.connection
        reused = self._transactions > 0
        self._transactions += 1
        try:
            return self._transaction(connection, message, reused=reused)
        except MailingError:
            if getattr(connection, "sock", None) is None:
                # smtplib closed its socket (server gone or 421): reconnect for the next one.
                self.close()
            raise

    def _transaction(
        self, connection: smtplib.SMTP, message: OutboundMessage, *, reused: bool
    ) -> str | Text:
        raw = bytes(message.raw)
        if not message.envelope_recipients:
            raise PermanentError(_("Le message n'a aucun destinataire."))
        try:
            connection.ehlo_or_helo_if_needed()
            sender, recipients, unusable = self._addresses(connection, message)
            options = _mail_options(connection, raw, [sender, *recipients])

            if connection.has_extn("pipelining"):
                refused = self._pipelined_envelope(
                    connection, message, sender, recipients, options, reused=reused
                )
            else:
                refused = self._envelope(
                    connection, message, sender, recipients, options, reused=reused
                )
        except smtplib.SMTPServerDisconnected as exc:
            # Nothing was handed over yet: safe to try again.
            raise self._disconnected_error(exc) from exc
        except smtplib.SMTPResponseException as exc:
            raise self._data_error(exc.smtp_code, exc.smtp_error) from exc
        except (UnicodeError, ValueError) as exc:
            # An address that cannot be written in a command (a line break, a character the
            # encoding lacks): refused here, before a byte of the message left.
            self.close()
            raise PermanentError(
                _("Une adresse du message ne peut pas être transmise au serveur."),
                detail=str(exc),
            ) from exc

        # Dot-stuffing (RFC 5321 4.5.2); bytes.replace is five times faster than a regex here.
        data = raw.replace(b"\n.", b"\n..")
        if data.startswith(b"."):
            data = b"." + data
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        try:
            connection.send(data + b".\r\n")
        except smtplib.SMTPServerDisconnected as exc:
            # The final dot was not delivered, so the server cannot have accepted the message.
            raise self._disconnected_error(exc) from exc
        try:
            code, reply = connection.getreply()
        except smtplib.SMTPServerDisconnected as exc:
            if _timed_out(exc):
                self._stalled = True
            raise DeliveryUncertain(detail=str(exc)) from exc
        if code != 250:
            if code == 421:
                connection.close()
            raise self._data_error(code, reply, after_data=True)

        return _taken(_answer(code, reply), refused, unusable)

    def _addresses(
        self, connection: smtplib.SMTP, message: OutboundMessage
    ) -> tuple[str, list[str], Text | None]:
        """The sender and the recipients as the envelope writes them (domains in ASCII, see
        `courrier.mailing.addresses`), and why the recipients left out could not be given to
        this server: a domain with no valid form, or accents before the @ for a server without
        SMTPUTF8. Nothing is sent when none is left, or when the sender cannot be written."""
        utf8 = connection.has_extn("smtputf8")
        try:
            sender = address_ascii(message.from_address)
        except AddressError as exc:
            raise ProfileRejected(
                _(
                    "Le nom de domaine de l'adresse d'expéditeur %(address)s n'est pas valide : "
                    "corrigez-la dans le paramétrage d'envoi."
                )
                % {"address": message.from_address},
                detail=str(exc),
            ) from exc
        if needs_smtputf8(sender) and not utf8:
            raise ProfileRejected(
                _(
                    "Le serveur %(host)s n'accepte pas d'accents avant le @ d'une adresse (il ne "
                    "propose pas SMTPUTF8) : l'adresse d'expéditeur %(address)s ne peut pas être "
                    "utilisée avec ce serveur."
                )
                % {**self._where(), "address": message.from_address}
            )
        recipients: list[str] = []
        bad_domain: list[str] = []
        not_ascii: list[str] = []
        for address in message.envelope_recipients:
            try:
                written = address_ascii(address)
            except AddressError:
                bad_domain.append(address)
                continue
            if needs_smtputf8(written) and not utf8:
                not_ascii.append(address)
                continue
            recipients.append(written)
        if not bad_domain and not not_ascii:
            return sender, recipients, None
        why = Lines(
            _("Non remis à %(addresses)s : nom de domaine invalide.")
            % {"addresses": ", ".join(bad_domain)}
            if bad_domain
            else None,
            _(
                "Non remis à %(addresses)s : le serveur %(host)s n'accepte pas d'accents avant "
                "le @ d'une adresse (il ne propose pas SMTPUTF8)."
            )
            % {"addresses": ", ".join(not_ascii), **self._where()}
            if not_ascii
            else None,
        )
        if not recipients:
            raise PermanentError(why)
        return sender, recipients, why

    def _envelope(
        self,
        connection: smtplib.SMTP,
        message: OutboundMessage,
        sender: str,
        recipients: list[str],
        options: list[str],
        *,
        reused: bool,
    ) -> dict[str, tuple[int, bytes]]:
        """MAIL, each RCPT and DATA, one round trip each; returns the refused recipients once
        the server waits for the data (354)."""
        try:
            code, reply = connection.mail(sender, options)
        except smtplib.SMTPServerDisconnected as exc:
            if reused and not _timed_out(exc):
                raise _ConnectionDropped from None
            raise
        if code == 421 and reused:
            # The server ends sessions after a while or after N messages: not an error.
            connection.close()
            raise _ConnectionDropped
        if code != 250:
            self._abort(connection, code)
            raise self._sender_error(code, reply, message.from_address)

        refused: dict[str, tuple[int, bytes]] = {}
        for recipient in recipients:
            code, reply = connection.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, reply)
                if code == 421:
                    break
        if refused:
            error = self._recipients_error(refused, all_refused=len(refused) == len(recipients))
            if error is not None:
                codes = [code for code, _reply in refused.values()]
                self._abort(connection, 421 if 421 in codes else max(codes))
                raise error

        connection.putcmd("data")
        code, reply = connection.getreply()
        if code != 354:
            self._abort(connection, code)
            raise self._data_error(code, reply)
        return refused

    def _pipelined_envelope(
        self,
        connection: smtplib.SMTP,
        message: OutboundMessage,
        sender: str,
        recipients: list[str],
        options: list[str],
        *,
        reused: bool,
    ) -> dict[str, tuple[int, bytes]]:
        """MAIL, every RCPT and DATA in one write (RFC 2920), then their replies in order: the
        same outcomes as `_envelope`, in one round trip instead of one per command."""
        # As smtplib's mail() and rcpt() write them, in the same encoding (UTF-8 with SMTPUTF8).
        option_list = f" {' '.join(options)}" if options else ""
        lines = [_command_line("mail", f"FROM:{_quoted(sender)}{option_list}")]
        lines += [_command_line("rcpt", f"TO:{_quoted(address)}") for address in recipients]
        lines.append(_command_line("data"))
        try:
            connection.send("".join(lines).encode(connection.command_encoding))
            code, reply = connection.getreply()
        except smtplib.SMTPServerDisconnected as exc:
            if reused and not _timed_out(exc):
                raise _ConnectionDropped from None
            raise
        if code == 421:
            # The server ends the session and reads nothing more (on a reused connection: after
            # a while or after N messages, not an error).
            connection.close()
            if reused:
                raise _ConnectionDropped
            raise self._sender_error(code, reply, message.from_address)
        mail_code, mail_reply = code, reply

        # Every reply owed is read before anything is decided, or the next command would be
        # matched with this transaction's replies. A 421 ends the session there; a connection
        # that breaks only matters if one of the replies it took is needed to decide.
        replies: list[tuple[int, bytes]] = []
        broken: smtplib.SMTPException | None = None
        try:
            while len(replies) <= len(recipients):
                replies.append(connection.getreply())
                if replies[-1][0] == 421:
                    connection.close()
                    break
        except smtplib.SMTPException as exc:  # smtplib has closed the connection
            broken = exc
        rcpt_replies, data_reply = replies[: len(recipients)], replies[len(recipients) :]
        accepted = any(code in (250, 251) for code, _reply in rcpt_replies)

        if mail_code != 250:
            self._end_refused(connection, data_reply, accepted=accepted, code=mail_code)
            raise self._sender_error(mail_code, mail_reply, message.from_address)
        if broken is not None and len(rcpt_replies) < len(recipients):
            raise broken
        refused = {
            address: (code, reply)
            for address, (code, reply) in zip(recipients, rcpt_replies, strict=False)
            if code not in (250, 251)
        }
        if refused:
            error = self._recipients_error(refused, all_refused=len(refused) == len(recipients))
            if error is not None:
                codes = [code for code, _reply in refused.values()]
                self._end_refused(
                    connection,
                    data_reply,
                    accepted=accepted,
                    code=421 if 421 in codes else max(codes),
                )
                raise error
        if broken is not None and not data_reply:
            raise broken
        [(code, reply)] = data_reply
        if code != 354:
            self._abort(connection, code)
            raise self._data_error(code, reply)
        return refused

    @classmethod
    def _end_refused(
        cls,
        connection: smtplib.SMTP,
        data_reply: list[tuple[int, bytes]],
        *,
        accepted: bool,
        code: int,
    ) -> None:
        """End a refused pipelined transaction as `_abort` ends a step-by-step one. The server
        may have answered DATA with 354 all the same (RFC 2920 allows it): with no accepted
        recipient an empty data section ends it and delivers nothing; with one, it would
        deliver an empty mail, so the connection is dropped instead, which abandons it."""
        if connection.sock is None:
            return  # closed on a 421 or when the connection broke
        if data_reply and data_reply[0][0] == 354:
            if accepted:
                connection.close()
                return
            try:
                connection.send(b".\r\n")
                ended, _reply = connection.getreply()
            except (smtplib.SMTPException, OSError):
                connection.close()
                return
            if ended == 421:
                code = ended
        cls._abort(connection, code)

    @staticmethod
    def _abort(connection: smtplib.SMTP, code: int) -> None:
        """End a refused transaction so the connection can carry the next message."""
        if code == 421:
            connection.close()
            return
        try:
            connection.rset()
        except (smtplib.SMTPException, OSError):
            connection.close()

    # -- what an error means ----------------------------------------------------------------

    def _where(self) -> dict[str, object]:
        return {"host": self.profile.smtp_host, "port": self.profile.smtp_port}

    def _port_hint(self) -> Text | None:
        profile = self.profile
        security, port = profile.smtp_security, profile.smtp_port
        if port == SSL_PORT and security != profile.Security.SSL:
            return _(
                "Le port 465 attend une connexion SSL/TLS directe : choisissez la sécurité "
                "« SSL/TLS » (ou le port 587 avec STARTTLS)."
            )
        if port == RELAY_PORT:
            return _(
                "Le port 25 est souvent bloqué par les fournisseurs d'accès : utilisez plutôt "
                "le port 587 avec STARTTLS, ou 465 avec SSL/TLS."
            )
        return None

    def _with_hint(self, sentence: Text) -> Text:
        return Lines(sentence, self._port_hint(), sep=" ")

    # C901: one branch per way a connection fails, each with its own sentence.
    def _open_error(self, exc: BaseException) -> MailingError:  # noqa: C901
        if _timed_out(exc):
            self._stalled = True
        where = self._where()
        security = self.profile.smtp_security
        detail = str(exc)
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            detail = _answer(exc.smtp_code, exc.smtp_error)
            if 400 <= exc.smtp_code < 500:
                return TransientError(
                    _("Le serveur n'a pas pu vérifier l'identifiant pour le moment."),
                    detail=detail,
                    code=exc.smtp_code,
                )
            return ProfileRejected(
                _(
                    "Le serveur a refusé l'identifiant ou le mot de passe. Vérifiez-les ; "
                    "certains fournisseurs exigent un « mot de passe d'application »."
                ),
                detail=detail,
                code=exc.smtp_code,
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            if "STARTTLS" in detail:
                return ProfileRejected(
                    _(
                        "Le serveur %(host)s ne propose pas STARTTLS sur le port %(port)s. "
                        "Choisissez la sécurité « SSL/TLS » si ce port est 465, ou un port "
                        "qui accepte STARTTLS (en général 587)."
                    )
                    % where,
                    detail=detail,
                )
            return ProfileRejected(
                _(
                    "Le serveur ne propose pas d'authentification sur cette connexion alors "
                    "qu'un identifiant est renseigné. Activez STARTTLS ou SSL/TLS (beaucoup de "
                    "serveurs n'acceptent l'identifiant que sur une connexion chiffrée), ou "
                    "videz l'identifiant s'il s'agit d'un relais sans login."
                ),
                detail=detail,
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            detail = _answer(exc.smtp_code, exc.smtp_error)
            if 400 <= exc.smtp_code < 500:
                return TransientError(
                    _("Le serveur %(host)s est momentanément indisponible.") % where,
                    detail=detail,
                    code=exc.smtp_code,
                )
            return ProfileRejected(
                _("Le serveur %(host)s refuse la connexion.") % where,
                detail=detail,
                code=exc.smtp_code,
            )
        if isinstance(exc, smtplib.SMTPException) and "authentication method" in detail:
            return ProfileRejected(
                _(
                    "Le serveur ne propose aucune méthode d'authentification connue "
                    "(PLAIN, LOGIN ou CRAM-MD5)."
                ),
                detail=detail,
            )
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ProfileRejected(
                certificate_problem(exc, host=self.profile.smtp_host), detail=detail
            )
        if isinstance(exc, ssl.SSLError):
            if not not_tls(exc):
                return ProfileRejected(
                    _(
                        "La connexion chiffrée avec %(host)s a échoué (le serveur et Courrier ne "
                        "s'accordent pas sur le chiffrement)."
                    )
                    % where,
                    detail=detail,
                )
            if security == self.profile.Security.SSL:
                sentence = _(
                    "La connexion SSL/TLS au port %(port)s a échoué : ce port n'attend sans "
                    "doute pas de SSL direct. Avec le port 587 (ou 25), choisissez STARTTLS ; "
                    "la sécurité « SSL/TLS » s'utilise en général avec le port 465."
                )
            else:
                sentence = _(
                    "La négociation STARTTLS avec %(host)s a échoué. Vérifiez le port et la "
                    "sécurité : STARTTLS avec le port 587, SSL/TLS avec le port 465."
                )
            return ProfileRejected(sentence % where, detail=detail)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            if (
                "timed out" in detail
                and self.profile.smtp_port == SSL_PORT
                and security != self.profile.Security.SSL
            ):
                # Connected, but the server waits for a TLS handshake while we wait for its
                # greeting: a settings mismatch, not a passing failure.
                return ProfileRejected(self._port_hint(), detail=detail)
            return TransientError(
                self._with_hint(_("Le serveur %(host)s a fermé la connexion.") % where),
                detail=detail,
            )
        if isinstance(exc, socket.gaierror):
            return TransientError(
                _(
                    "Le nom du serveur « %(host)s » est introuvable. Vérifiez l'orthographe du "
                    "serveur SMTP et la connexion Internet."
                )
                % where,
                detail=detail,
            )
        if isinstance(exc, ConnectionRefusedError):
            return TransientError(
                self._with_hint(
                    _(
                        "Le serveur %(host)s refuse les connexions sur le port %(port)s. "
                        "Vérifiez le port : 587 pour STARTTLS, 465 pour SSL/TLS."
                    )
                    % where
                ),
                detail=detail,
            )
        if isinstance(exc, TimeoutError):
            return TransientError(
                self._with_hint(
                    _("Le serveur %(host)s ne répond pas sur le port %(port)s.") % where
                ),
                detail=detail,
            )
        return TransientError(
            self._with_hint(_("Impossible de joindre le serveur %(host)s:%(port)s.") % where),
            detail=detail,
        )

    def _disconnected_error(self, exc: smtplib.SMTPServerDisconnected) -> TransientError:
        if _timed_out(exc):
            # The rest of the run would wait as long for each message: see `open`.
            self._stalled = True
            self.close()
            return TransientError(
                _(
                    "Le serveur %(host)s a cessé de répondre (rien en %(seconds)s secondes) : "
                    "le message sera réessayé plus tard."
                )
                % {**self._where(), "seconds": f"{self.timeout:g}"},
                detail=str(exc),
            )
        return TransientError(
            _("La connexion au serveur %(host)s a été interrompue avant l'envoi du message.")
            % self._where(),
            detail=str(exc),
        )

    def _sender_error(self, code: int, reply: bytes | str, sender: str) -> MailingError:
        detail = _answer(code, reply)
        if 400 <= code < 500:
            return TransientError(
                _("Le serveur a différé l'envoi (erreur temporaire)."), detail=detail, code=code
            )
        lowered = detail.lower()
        if "starttls" in lowered or "5.7.10" in lowered:
            return ProfileRejected(
                _(
                    "Le serveur exige une connexion chiffrée : choisissez la sécurité STARTTLS "
                    "(port 587) ou SSL/TLS (port 465)."
                ),
                detail=detail,
                code=code,
            )
        if code == 530 or "authentication required" in lowered or "5.7.0" in lowered:
            return ProfileRejected(
                _(
                    "Le serveur exige une authentification : renseignez l'identifiant et le "
                    "mot de passe de la boîte d'envoi."
                ),
                detail=detail,
                code=code,
            )
        if code == 552:
            return PermanentError(
                _("Le message est trop volumineux pour ce serveur."), detail=detail, code=code
            )
        return ProfileRejected(
            _(
                "Le serveur refuse l'adresse d'expéditeur %(address)s : vérifiez qu'elle "
                "appartient bien au compte utilisé pour l'envoi."
            )
            % {"address": sender},
            detail=detail,
            code=code,
        )

    def _recipients_error(
        self, refused: dict[str, tuple[int, bytes]], *, all_refused: bool
    ) -> MailingError | None:
        """The error for refused recipients, or None to send to those that were accepted."""
        detail = "; ".join(f"{address} : {_answer(c, r)}" for address, (c, r) in refused.items())
        codes = [code for code, _reply in refused.values()]
        addresses = ", ".join(refused)
        if any(400 <= code < 500 for code in codes):
            # Retry the whole message rather than send it to part of the recipients now and
            # never to the others.
            return TransientError(
                _("Le serveur a différé le destinataire %(addresses)s (erreur temporaire).")
                % {"addresses": addresses},
                detail=detail,
                code=max(codes),
            )
        if not all_refused:
            return None
        lowered = detail.lower()
        if 530 in codes or "authentication required" in lowered:
            return ProfileRejected(
                _(
                    "Le serveur exige une authentification : renseignez l'identifiant et le "
                    "mot de passe de la boîte d'envoi."
                ),
                detail=detail,
                code=530,
            )
        if "relay" in lowered and not self.profile.smtp_username:
            return ProfileRejected(
                _(
                    "Le serveur refuse de relayer le message sans authentification : "
                    "renseignez l'identifiant et le mot de passe de la boîte d'envoi."
                ),
                detail=detail,
                code=max(codes),
            )
        return PermanentError(
            _("Le serveur refuse le destinataire %(addresses)s.") % {"addresses": addresses},
            detail=detail,
            code=max(codes),
        )

    def _data_error(
        self, code: int, reply: bytes | str, *, after_data: bool = False
    ) -> MailingError:
        detail = _answer(code, reply)
        if 400 <= code < 500:
            return TransientError(
                _("Le serveur a refusé temporairement le message."), detail=detail, code=code
            )
        if code == 552:
            return PermanentError(
                _("Le message est trop volumineux pour ce serveur."), detail=detail, code=code
            )
        if after_data:
            return PermanentError(
                _("Le serveur a refusé le contenu du message."), detail=detail, code=code
            )
        return PermanentError(detail=detail, code=code)


@functools.lru_cache(maxsize=4096)
def _quoted(address: str) -> str:
    """`smtplib.quoteaddr`, kept: it parses the address with the email package (~12 µs), and a
    batch writes to the same sender, and often the same recipients, again and again."""
    return smtplib.quoteaddr(address)


def _command_line(command: str, args: str = "") -> str:
    """A command as smtplib's `putcmd` writes it, with its refusal of a line break (in an
    address, it would start another command)."""
    line = f"{command} {args}" if args else command
    if "\r" in line or "\n" in line:
        raise ValueError(f"command and arguments contain prohibited newline characters: {line!r}")
    return f"{line}\r\n"


def _mail_options(connection: smtplib.SMTP, raw: bytes, addresses: list[str]) -> list[str]:
    """The MAIL parameters for this message; sets the encoding of the transaction's commands
    (UTF-8 only with SMTPUTF8, which `_addresses` asked for only if the server offers it)."""
    options: list[str] = []
    if connection.does_esmtp:
        if connection.has_extn("size"):
            options.append(f"SIZE={len(raw)}")
        if not raw.isascii() and connection.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
    utf8 = not all(address.isascii() for address in addresses)
    if utf8:
        options.append("SMTPUTF8")
    # smtplib's mail() switches to UTF-8 for SMTPUTF8 and never back: set for each message.
    connection.command_encoding = "utf-8" if utf8 else "ascii"
    return options


def _taken(answer: str, refused: dict[str, tuple[int, bytes]], unusable: Text | None) -> str | Text:
    """The answer to a message taken: the server's, then the recipients it refused and those
    that could not be given to it."""
    if not refused and unusable is None:
        return answer
    return Lines(
        answer,
        _("Destinataires refusés : %(list)s")
        % {
            "list": "; ".join(
                f"{address} ({_answer(code, reply)})" for address, (code, reply) in refused.items()
            )
        }
        if refused
        else None,
        unusable,
    )


def _timed_out(exc: BaseException) -> bool:
    """Whether the error comes from a time-out: smtplib turns the socket's TimeoutError into
    SMTPServerDisconnected, raised while handling it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _quietly_close(backend: EmailBackend) -> None:
    connection = backend.connection
    try:
        backend.close()
    except (smtplib.SMTPException, OSError):
        # A failed QUIT changes nothing to what was sent; just drop the socket.
        if connection is not None:
            connection.close()
