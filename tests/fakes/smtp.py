"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records what it receives and can misbehave.

    server = FakeSMTPServer()                      # plain, no login (a relay)
    server = FakeSMTPServer(auth=("anne", "pw"))   # AUTH PLAIN/LOGIN required
    server = FakeSMTPServer(tls=ca, starttls=True) # STARTTLS with a test CA
    server = FakeSMTPServer(tls=ca, implicit_tls=True)  # SSL/TLS from the first byte
    with server: ...                               # or .start() / .stop()

    server.messages                                # list[Received], in arrival order
    server.fail_recipient("x@client.be", "550 5.1.1 No such user")
    server.fail_next(2, "421 4.3.2 Try again later", at="data")
    server.drop_next()     # read the data, then hang up without answering

    server = FakeSMTPServer(pipelining=True)       # announce PIPELINING (RFC 2920)
    server.command_batches  # [["MAIL", "RCPT", "DATA"], ...]: what came with each MAIL
    server = FakeSMTPServer(data_without_recipients="354")  # DATA opened with no recipient
    server = FakeSMTPServer(smtputf8=True)         # announce SMTPUTF8 (RFC 6531)
    server.auth_attempts                           # AUTH commands answered, right or wrong

    # A server in trouble that heals: by itself after `times` bad answers, or when told.
    server.misbehave("rcpt", "451 4.3.0 Try again later")   # every RCPT answered so
    server.misbehave("data", "452 4.3.1 Out of memory")     # the DATA command answered so
    server.misbehave("end", "451 4.3.0 Queue full", times=30)  # after the data, 30 times
    server.misbehave("drop")               # hang up at MAIL, without a word
    server.misbehave("slow", delay=2.0)    # greet each connection only after 2 s
    server.misbehave("absent")             # nothing listens on the port
    server.heal()                          # healthy again now
    server.troubles, server.healed_at      # bad answers given; when it healed (monotonic)

A 421 answer closes the connection afterwards, as real servers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email
import email.message
import email.policy
import ipaddress
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, syntax
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port with nothing listening on it (yet)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# -- a certificate authority made for the test run ------------------------------------------


class TestCA:
    """A CA and a server certificate for 127.0.0.1 / localhost, written under `directory`.

    The server certificate can be made wrong, as servers get it wrong: for other `names` than
    127.0.0.1 / localhost, `expired`, or `self_signed` (not issued by the CA at all)."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(
        self,
        directory: Path,
        *,
        names: tuple[str, ...] | None = None,
        expired: bool = False,
        self_signed: bool = False,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Courrier test CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "localhost")]
        )
        alternatives: list[x509.GeneralName] = (
            [x509.DNSName(name) for name in names]
            if names
            else [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
        )
        valid_until = now - datetime.timedelta(days=1) if expired else now + datetime.timedelta(30)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if self_signed else ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=10))
            .not_valid_after(valid_until)
            .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    (key if self_signed else ca_key).public_key()
                ),
                critical=False,
            )
            .sign(key if self_signed else ca_key, hashes.SHA256())
        )
        self.ca_path = directory / "ca.pem"
        self.cert_path = directory / "server.pem"
        self.key_path = directory / "server.key"
        self.ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self) -> ssl.SSLContext:
        """What a client that trusts this CA uses (production uses the system's CAs)."""
        return ssl.create_default_context(cafile=str(self.ca_path))


# -- what the server received ---------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # the message exactly as transmitted (after SMTP dot-unstuffing)
    mail_options: list[str] = field(default_factory=list)
    authenticated_as: str | None = None
    tls: bool = False
    # When it arrived (time.monotonic(), as `FakeSMTPServer.healed_at`).
    arrived_at: float = field(default_factory=time.monotonic)

    @property
    def message(self) -> email.message.EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed

    def part(self, content_type: str) -> str:
        """The decoded text of the first part of that type (text/plain, text/html)."""
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                content = part.get_content()
                assert isinstance(content, str)
                return content
        raise AssertionError(f"no {content_type} part")


@dataclass
class _Rule:
    reply: str
    remaining: int | None  # None: for ever


Trouble = Literal["rcpt", "data", "end", "drop", "slow", "absent"]


@dataclass
class _Trouble:
    kind: Trouble
    reply: str
    remaining: int | None  # None: until healed
    delay: float


class _SMTP(SMTP):
    """aiosmtpd's session, able to hang up after a 421 or instead of answering, noting what
    each read that begins with MAIL holds, and opening DATA without recipients if told to."""

    drop_reply = False
    messages_here = 0
    greeted = False

    def data_received(self, data: bytes) -> None:
        fake = self.event_handler
        assert isinstance(fake, FakeSMTPServer)
        if data[:5].upper() == b"MAIL ":
            # A client that waits for each reply sends MAIL alone; one that pipelines sends
            # its RCPTs and DATA in the same write, which loopback delivers in one read.
            verbs = [line.split(b" ", 1)[0].upper().decode() for line in data.split(b"\r\n")]
            with fake._lock:
                fake.command_batches.append([verb for verb in verbs if verb])
        super().data_received(data)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        fake = self.event_handler
        assert isinstance(fake, FakeSMTPServer) and self.envelope is not None
        if self.envelope.rcpt_tos:
            trouble = fake._trouble_now("data")
            if trouble is not None:
                # Refused before the data section opens (no 354).
                await self.push(trouble.reply)
                return
        if self.envelope.rcpt_tos or fake.data_without_recipients is None:
            await super().smtp_DATA(arg)
            return
        if fake.data_without_recipients == "554":
            await self.push("554 5.5.1 Error: no valid recipients")
            return
        # RFC 2920 lets a server open the data section anyway, and refuse it at its end.
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        lines: list[bytes] = []
        while (line := await self._reader.readuntil(b"\r\n")) != b".\r\n":
            lines.append(line)
        with fake._lock:
            fake.unaddressed.append(b"".join(lines))
        await self.push("554 5.5.1 Error: no valid recipients")

    async def push(self, status: Any) -> None:
        if not self.greeted:
            self.greeted = True
            fake = self.event_handler
            assert isinstance(fake, FakeSMTPServer)
            trouble = fake._trouble_now("slow")
            if trouble is not None:
                # A server too slow to greet: the client may have given up meanwhile.
                await asyncio.sleep(trouble.delay)
                if self.transport is None or self.transport.is_closing():
                    return
        if self.drop_reply:
            self.drop_reply = False
            if self.transport is not None:
                self.transport.close()
            return
        await super().push(status)
        if str(status).startswith("421") and self.transport is not None:
            self.transport.close()


class _Controller(Controller):
    def __init__(self, server: FakeSMTPServer, **kwargs: Any) -> None:
        self._fake = server
        super().__init__(server, **kwargs)

    def factory(self) -> SMTP:
        self._fake.connections += 1
        with warnings.catch_warnings():
            # aiosmtpd warns about AUTH without TLS, which some tests want on purpose.
            warnings.simplefilter("ignore")
            return _SMTP(self.handler, **self.SMTP_kwargs)


class FakeSMTPServer:
    """An SMTP server on 127.0.0.1 for tests; see the module docstring."""

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        auth_mechanisms: Iterable[str] = ("PLAIN", "LOGIN"),
        auth_require_tls: bool | None = None,
        tls: TestCA | None = None,
        starttls: bool = False,
        require_starttls: bool = False,
        implicit_tls: bool = False,
        port: int | None = None,
        messages_per_connection: int | None = None,
        pipelining: bool = False,
        data_without_recipients: Literal["554", "354"] | None = None,
        smtputf8: bool = False,
    ) -> None:
        if (starttls or implicit_tls) and tls is None:
            raise ValueError("TLS needs a TestCA")
        self.host = HOST
        self.port = port or free_port()
        self.auth = auth
        # The profile setting that matches this server: "none", "starttls" or "ssl".
        self.security = "ssl" if implicit_tls else "starttls" if starttls else "none"
        self.messages: list[Received] = []
        self.dropped: list[Received] = []
        self.connections = 0
        self.auth_attempts = 0
        self._lock = threading.Lock()
        self._recipient_rules: dict[str, _Rule] = {}
        self._next_rules: dict[str, list[_Rule]] = {"mail": [], "data": []}
        self._drop_next = 0
        # Like providers that end a session after N messages ("421 too many messages").
        self.messages_per_connection = messages_per_connection
        self.pipelining = pipelining
        # The commands that came in each read beginning with MAIL (see _SMTP.data_received).
        self.command_batches: list[list[str]] = []
        # The answer to DATA when no recipient was accepted: aiosmtpd's own 503 (None), a 554,
        # or "354" to open the data section anyway (its content lands in `unaddressed`).
        self.data_without_recipients = data_without_recipients
        self.unaddressed: list[bytes] = []
        # The trouble the server is in (see misbehave), the bad answers it gave, and when it
        # last became healthy again (time.monotonic()).
        self._trouble: _Trouble | None = None
        self.troubles = 0
        self.healed_at: float | None = None

        kwargs: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "server_hostname": "smtp.fake.test",
            "ready_timeout": 5.0,
            "enable_SMTPUTF8": smtputf8,
        }
        if auth is not None:
            allowed = {mechanism.upper() for mechanism in auth_mechanisms}
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                # aiosmtpd only knows about STARTTLS; over implicit TLS it must not insist.
                auth_require_tls=starttls if auth_require_tls is None else auth_require_tls,
                auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN") if m not in allowed],
            )
        if tls is not None and starttls:
            kwargs.update(tls_context=tls.server_context(), require_starttls=require_starttls)
        if tls is not None and implicit_tls:
            kwargs["ssl_context"] = tls.server_context()
        self._controller_kwargs = kwargs
        self._controller = _Controller(self, **kwargs)

    # -- life -------------------------------------------------------------------------------

    def start(self) -> FakeSMTPServer:
        self._controller.start()
        self.connections = 0  # not the controller's own readiness probe
        return self

    def stop(self) -> None:
        with self._lock:
            absent = self._trouble is not None and self._trouble.kind == "absent"
        if not absent:  # already stopped
            self._controller.stop()

    def __enter__(self) -> FakeSMTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting --------------------------------------------------------------------------

    def fail_recipient(self, address: str, reply: str, *, times: int | None = None) -> None:
        """Answer `reply` to RCPT for this address (`times` times, or until cleared)."""
        with self._lock:
            self._recipient_rules[address.lower()] = _Rule(reply, times)

    def fail_next(self, count: int, reply: str, *, at: str = "data") -> None:
        """Answer `reply` to the next `count` transactions, at MAIL ("mail") or after DATA."""
        with self._lock:
            self._next_rules[at].append(_Rule(reply, count))

    def drop_next(self, count: int = 1) -> None:
        """For the next `count` messages: read the data, then hang up without answering."""
        with self._lock:
            self._drop_next += count

    def misbehave(
        self,
        kind: Trouble,
        reply: str = "451 4.3.0 Try again later",
        *,
        times: int | None = None,
        delay: float = 2.0,
    ) -> None:
        """Be in trouble until `heal()`, or for the next `times` occasions only:

        - "rcpt": answer `reply` to every RCPT;
        - "data": answer `reply` to the DATA command (before the data);
        - "end": answer `reply` after the data (the message is not kept);
        - "drop": hang up at MAIL without answering;
        - "slow": greet each new connection only after `delay` seconds (a client that waits
          longer goes on normally);
        - "absent": stop listening (connections refused) until `heal()`; `times` is ignored.

        Each bad answer (each connection, for "slow") counts in `troubles`."""
        if kind == "absent":
            with self._lock:
                self._trouble = _Trouble(kind, reply, None, delay)
            self._controller.stop()
            return
        with self._lock:
            self._trouble = _Trouble(kind, reply, times, delay)

    def heal(self) -> None:
        """Healthy again from now on (listening again after "absent")."""
        with self._lock:
            trouble, self._trouble = self._trouble, None
            self.healed_at = time.monotonic()
        if trouble is not None and trouble.kind == "absent":
            connections = self.connections
            self._controller = _Controller(self, **self._controller_kwargs)
            self._controller.start()
            self.connections = connections  # not the controller's readiness probe

    def _trouble_now(self, kind: Trouble) -> _Trouble | None:
        """The trouble to show now at this step, if the server is in that trouble (counted)."""
        with self._lock:
            trouble = self._trouble
            if trouble is None or trouble.kind != kind:
                return None
            self.troubles += 1
            if trouble.remaining is not None:
                trouble.remaining -= 1
                if trouble.remaining <= 0:
                    # That was the last bad answer: healthy from the next one on.
                    self._trouble = None
                    self.healed_at = time.monotonic()
            return trouble

    def clear_rules(self) -> None:
        with self._lock:
            self._recipient_rules.clear()
            for rules in self._next_rules.values():
                rules.clear()
            self._drop_next = 0

    def wait_for(self, count: int, *, timeout: float = 10.0) -> list[Received]:
        """Wait until at least `count` messages arrived (for other processes sending)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.messages)} messages arrived, {count} expected")

    def _take(self, rules: list[_Rule]) -> str | None:
        for rule in rules:
            if rule.remaining is None or rule.remaining > 0:
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule.reply
        return None

    # -- aiosmtpd handler hooks (run in the server's thread) --------------------------------

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.auth is not None
        with self._lock:
            self.auth_attempts += 1
        if (
            isinstance(data, LoginPassword)
            and (
                data.login.decode(),
                data.password.decode(),
            )
            == self.auth
        ):
            return AuthResult(success=True, auth_data=data)
        # handled=False: aiosmtpd answers 535 itself; otherwise the client waits for ever.
        return AuthResult(success=False, handled=False)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        # With this hook aiosmtpd leaves the client's name to be recorded here.
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        limit = self.messages_per_connection
        assert isinstance(server, _SMTP)
        if limit is not None and server.messages_here >= limit:
            return "421 4.7.0 Too many messages for this session"
        if self._trouble_now("drop") is not None:
            server.drop_reply = True
            return "250 OK"
        with self._lock:
            reply = self._take(self._next_rules["mail"])
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        trouble = self._trouble_now("rcpt")
        if trouble is not None:
            return trouble.reply
        with self._lock:
            rule = self._recipient_rules.get(address.lower())
            reply = self._take([rule]) if rule else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = getattr(session.auth_data, "login", None)
        received = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content or b""),
            mail_options=list(envelope.mail_options),
            authenticated_as=login.decode() if isinstance(login, bytes) else None,
            tls=server.transport is not None
            and server.transport.get_extra_info("ssl_object") is not None,
        )
        with self._lock:
            if self._drop_next:
                self._drop_next -= 1
                self.dropped.append(received)
                assert isinstance(server, _SMTP)
                server.drop_reply = True
                return "250 OK"
        trouble = self._trouble_now("end")
        if trouble is not None:
            return trouble.reply
        with self._lock:
            reply = self._take(self._next_rules["data"])
            if reply:
                return reply
            self.messages.append(received)
            assert isinstance(server, _SMTP)
            server.messages_here += 1
        return f"250 2.0.0 OK queued as FAKE{len(self.messages):04d}"


class SilentServer:
    """Accepts TCP connections and never says a word (an SSL port seen by a plain client)."""

    def __init__(self, *, port: int = 0) -> None:
        self.host = HOST
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((HOST, port))
        self._sock.listen(8)
        self.port = int(self._sock.getsockname()[1])
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                return
            self._open.append(conn)

    def close(self) -> None:
        self._sock.close()
        for conn in self._open:
            conn.close()


class StallingServer:
    """An SMTP server that answers normally, then stops answering at one step and keeps the
    connection open (a server in trouble): at "rcpt" (no reply to RCPT), "data" (no reply to
    DATA) or "end" (the data read, no final reply). With `pipelining`, it announces PIPELINING
    (RFC 2920) and the client sends MAIL, RCPT and DATA in one write.

    `connections` counts the connections accepted, `commands` the verbs read on each."""

    def __init__(
        self, *, stall_at: Literal["rcpt", "data", "end"], pipelining: bool = False
    ) -> None:
        self.host = HOST
        self.stall_at = stall_at
        self.pipelining = pipelining
        self.connections = 0
        self.commands: list[list[str]] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((HOST, 0))
        self._sock.listen(8)
        self.port = int(self._sock.getsockname()[1])
        # What `make_profile` reads: a plain relay without login.
        self.security = "none"
        self.auth = None
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        seen: list[str] = []
        self.commands.append(seen)
        reader = conn.makefile("rb")
        silent = False
        in_data = False
        try:
            conn.sendall(b"220 stall.test ESMTP\r\n")
            for line in reader:
                if in_data:
                    if line == b".\r\n":
                        in_data = False
                        silent = silent or self.stall_at == "end"
                        if not silent:
                            conn.sendall(b"250 2.0.0 queued\r\n")
                    continue
                verb = line.split(b" ", 1)[0].strip().upper().decode("ascii", "replace")
                seen.append(verb)
                if silent:
                    continue
                if verb == "EHLO":
                    extra = b"250-PIPELINING\r\n" if self.pipelining else b""
                    conn.sendall(b"250-stall.test\r\n" + extra + b"250 8BITMIME\r\n")
                elif verb == self.stall_at.upper():  # RCPT or DATA left unanswered
                    silent = True
                elif verb == "DATA":
                    in_data = True
                    conn.sendall(b"354 go ahead\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 OK\r\n")
        except OSError:
            return

    def __enter__(self) -> StallingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()
        for conn in self._open:
            with contextlib.suppress(OSError):
                conn.close()
