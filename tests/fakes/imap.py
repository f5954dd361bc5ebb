"""IMAP servers on 127.0.0.1 for the "copy to Sent" tests: a small fake, and Debian's Dovecot.

    server = FakeIMAPServer(users={"anne@fidu.test": "secret"})          # plain
    server = FakeIMAPServer(tls=ca, starttls=True)                       # STARTTLS, test CA
    server = FakeIMAPServer(tls=ca, implicit_tls=True)                   # SSL/TLS from byte one
    server = FakeIMAPServer(folders={"INBOX": "", "Sent Items": "\\\\Sent"})
    with server: ...

    server.stored("Sent")          # list[Stored]: bytes, flags, internal date
    server.drop_after_append()     # store the next APPEND, then hang up without answering
    server.fail_login_next(reply="NO [UNAVAILABLE] Try later")

The fake speaks the part of IMAP4rev1 a client needs to file a copy: CAPABILITY, STARTTLS,
LOGIN, AUTHENTICATE PLAIN, LIST (with the RFC 6154 special-use attributes, and the
SPECIAL-USE selection option), SELECT/EXAMINE, SEARCH HEADER, APPEND with a literal, NOOP,
LOGOUT. Folder names are given readable; on the wire they are modified UTF-7.

`Dovecot` runs Debian's `dovecot` (package dovecot-imapd) with a configuration of its own in
a temporary directory; `dovecot_binary()` is None when it is not installed.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import imaplib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.fakes.smtp import HOST, TestCA, free_port

# -- modified UTF-7, written again here so the fake does not trust the code it tests ----------


def _wire_name(name: str) -> str:
    out, pending = "", ""
    for char in name + "\0":
        if char != "\0" and 0x20 <= ord(char) <= 0x7E:
            if pending:
                chunk = base64.b64encode(pending.encode("utf-16-be")).decode().rstrip("=")
                out += "&" + chunk.replace("/", ",") + "-"
                pending = ""
            out += "&-" if char == "&" else char
        elif char != "\0":
            pending += char
        elif pending:
            chunk = base64.b64encode(pending.encode("utf-16-be")).decode().rstrip("=")
            out += "&" + chunk.replace("/", ",") + "-"
    return out


@dataclass
class Stored:
    data: bytes
    flags: set[str]
    internal_date: datetime | None

    @property
    def seen(self) -> bool:
        return "\\seen" in {flag.lower() for flag in self.flags}


@dataclass
class _Session:
    tls: bool = False
    user: str | None = None
    selected: str | None = None


Token = str | bytes | list[Any]


def _tokenize(text: str) -> list[Token]:
    """Atoms, "quoted strings" and (lists) of one line of a command."""
    tokens: list[Token] = []
    stack: list[list[Token]] = [tokens]
    i = 0
    while i < len(text):
        char = text[i]
        if char == " ":
            i += 1
        elif char == "(":
            inner: list[Token] = []
            stack[-1].append(inner)
            stack.append(inner)
            i += 1
        elif char == ")":
            stack.pop()
            i += 1
        elif char == '"':
            j, value = i + 1, ""
            while text[j] != '"':
                if text[j] == "\\":
                    j += 1
                value += text[j]
                j += 1
            stack[-1].append(value)
            i = j + 1
        else:
            match = re.match(r"[^ ()]+", text[i:])
            assert match is not None
            stack[-1].append(match.group())
            i += len(match.group())
    return tokens


class FakeIMAPServer:
    """An IMAP server on 127.0.0.1 for tests; see the module docstring."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        folders: dict[str, str] | None = None,
        tls: TestCA | None = None,
        starttls: bool = False,
        implicit_tls: bool = False,
        special_use: bool = True,
        special_use_in_plain_list: bool = True,
        port: int | None = None,
    ) -> None:
        if (starttls or implicit_tls) and tls is None:
            raise ValueError("TLS needs a TestCA")
        self.host = HOST
        self.port = port or free_port()
        self.users = users if users is not None else {"anne@fidu.test": "secret"}
        # Readable folder name -> its special-use attribute ("" for none).
        self.folders = (
            folders
            if folders is not None
            else {"INBOX": "", "Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash"}
        )
        self.mailboxes: dict[str, list[Stored]] = {name: [] for name in self.folders}
        self.security = "ssl" if implicit_tls else "starttls" if starttls else "none"
        self.tls = tls
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.special_use = special_use
        self.special_use_in_plain_list = special_use_in_plain_list
        self.commands: list[str] = []
        self.connections = 0
        self._login_failures: list[str] = []
        self._drop_after_append = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- life -------------------------------------------------------------------------------

    def start(self) -> FakeIMAPServer:
        self._thread.start()
        ssl_context = self.tls.server_context() if self.implicit_tls and self.tls else None
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, self.host, self.port, ssl=ssl_context), self._loop
        )
        self._server = future.result(timeout=5)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeIMAPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what a test reads and scripts ------------------------------------------------------

    def stored(self, folder: str) -> list[Stored]:
        with self._lock:
            return list(self.mailboxes.get(folder, []))

    @property
    def appended(self) -> list[tuple[str, Stored]]:
        with self._lock:
            return [(name, item) for name, items in self.mailboxes.items() for item in items]

    def fail_login_next(self, count: int = 1, *, reply: str = "NO [UNAVAILABLE] Try later") -> None:
        with self._lock:
            self._login_failures.extend([reply] * count)

    def drop_after_append(self, count: int = 1) -> None:
        """The next `count` APPENDs are stored, then the connection ends without an answer."""
        with self._lock:
            self._drop_after_append += count

    # -- the protocol -----------------------------------------------------------------------

    def _capabilities(self, session: _Session) -> str:
        words = ["IMAP4rev1", "AUTH=PLAIN"]
        if self.starttls and not session.tls:
            words.append("STARTTLS")
        if self.special_use:
            words.append("SPECIAL-USE")
        return " ".join(words)

    def _folder(self, wire: str) -> str | None:
        for name in self.folders:
            if _wire_name(name) == wire or (name.upper() == "INBOX" == wire.upper()):
                return name
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.connections += 1
        session = _Session(tls=self.implicit_tls)

        async def send(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        try:
            await send(f"* OK [CAPABILITY {self._capabilities(session)}] Fake IMAP ready")
            while True:
                read = await self._read_command(reader, writer)
                if read is None:
                    return
                tag, command, args = read
                with self._lock:
                    self.commands.append(command)
                keep_going = await self._dispatch(session, reader, writer, send, tag, command, args)
                if not keep_going:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _read_command(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[str, str, list[Token]] | None:
        tokens: list[Token] = []
        while True:
            line = await reader.readline()
            if not line:
                return None
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            literal = re.search(r"\{(\d+)(\+?)\}$", text)
            if literal is None:
                tokens.extend(_tokenize(text))
                break
            tokens.extend(_tokenize(text[: literal.start()]))
            if not literal.group(2):
                writer.write(b"+ Ready for literal data\r\n")
                await writer.drain()
            tokens.append(await reader.readexactly(int(literal.group(1))))
        if len(tokens) < 2:
            return None
        tag, command = str(tokens[0]), str(tokens[1]).upper()
        return tag, command, tokens[2:]

    async def _dispatch(
        self,
        session: _Session,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        send: Any,
        tag: str,
        command: str,
        args: list[Token],
    ) -> bool:
        if command == "CAPABILITY":
            await send(f"* CAPABILITY {self._capabilities(session)}")
            await send(f"{tag} OK CAPABILITY completed")
        elif command == "NOOP":
            await send(f"{tag} OK NOOP completed")
        elif command == "LOGOUT":
            await send("* BYE Fake IMAP logging out")
            await send(f"{tag} OK LOGOUT completed")
            return False
        elif command == "STARTTLS" and self.starttls and not session.tls and self.tls:
            await send(f"{tag} OK Begin TLS negotiation now")
            await writer.start_tls(self.tls.server_context())
            session.tls = True
        elif command == "LOGIN":
            user = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
            password = args[1].decode() if isinstance(args[1], bytes) else str(args[1])
            await self._login(session, send, tag, user, password)
        elif command == "AUTHENTICATE" and str(args[0]).upper() == "PLAIN":
            if len(args) > 1:
                response = str(args[1])
            else:
                await send("+ ")
                response = (await reader.readline()).decode().strip()
            try:
                _authzid, user, password = base64.b64decode(response).decode().split("\0")
            except ValueError:
                await send(f"{tag} BAD Invalid SASL response")
                return True
            await self._login(session, send, tag, user, password)
        elif session.user is None:
            await send(f"{tag} BAD Log in first")
        elif command == "LIST":
            await self._list(send, tag, args)
        elif command in ("SELECT", "EXAMINE"):
            name = self._folder(str(args[0]))
            if name is None:
                await send(f"{tag} NO Mailbox doesn't exist: {args[0]!s}")
                return True
            session.selected = name
            await send("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")
            await send(f"* {len(self.stored(name))} EXISTS")
            await send("* 0 RECENT")
            await send("* OK [UIDVALIDITY 1] UIDs valid")
            mode = "READ-ONLY" if command == "EXAMINE" else "READ-WRITE"
            await send(f"{tag} OK [{mode}] {command} completed")
        elif command == "SEARCH":
            await self._search(session, send, tag, args)
        elif command == "APPEND":
            return await self._append(writer, send, tag, args)
        else:
            await send(f"{tag} BAD Unknown command {command}")
        return True

    async def _login(self, session: _Session, send: Any, tag: str, user: str, pw: str) -> None:
        with self._lock:
            failure = self._login_failures.pop(0) if self._login_failures else None
        if failure:
            await send(f"{tag} {failure}")
        elif self.users.get(user) == pw:
            session.user = user
            await send(f"{tag} OK Logged in")
        else:
            await send(f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.")

    async def _list(self, send: Any, tag: str, args: list[Token]) -> None:
        options: list[str] = []
        if args and isinstance(args[0], list):
            options = [str(option).upper() for option in args[0]]
            args = args[1:]
        returned = [str(a).upper() for a in args[3]] if len(args) > 3 else []
        pattern = str(args[1]) if len(args) > 1 else "*"
        asked = "SPECIAL-USE" in options or "SPECIAL-USE" in returned
        regex = re.compile(
            "^" + re.escape(pattern).replace(r"\*", ".*").replace("%", "[^/]*") + "$", re.I
        )
        for name, special in self.folders.items():
            wire = _wire_name(name)
            if not regex.match(wire):
                continue
            if "SPECIAL-USE" in options and not special:
                continue
            attributes = ["\\HasNoChildren"]
            if special and self.special_use and (asked or self.special_use_in_plain_list):
                attributes.append(special)
            await send(f'* LIST ({" ".join(attributes)}) "/" "{wire}"')
        await send(f"{tag} OK LIST completed")

    async def _search(self, session: _Session, send: Any, tag: str, args: list[Token]) -> None:
        if session.selected is None:
            await send(f"{tag} BAD No mailbox selected")
            return
        if args and str(args[0]).upper() == "CHARSET":
            args = args[2:]
        if len(args) != 3 or str(args[0]).upper() != "HEADER":
            await send(f"{tag} BAD Only SEARCH HEADER is spoken here")
            return
        header, value = str(args[1]), args[2]
        needle = value.decode() if isinstance(value, bytes) else str(value)
        found = []
        for number, item in enumerate(self.stored(session.selected), start=1):
            parsed = email.message_from_bytes(item.data)
            if any(needle.lower() in str(v).lower() for v in parsed.get_all(header) or []):
                found.append(str(number))
        await send("* SEARCH" + "".join(f" {n}" for n in found))
        await send(f"{tag} OK SEARCH completed")

    async def _append(
        self, writer: asyncio.StreamWriter, send: Any, tag: str, args: list[Token]
    ) -> bool:
        name = self._folder(str(args[0]))
        flags: set[str] = set()
        internal_date: datetime | None = None
        for arg in args[1:-1]:
            if isinstance(arg, list):
                flags = {str(flag) for flag in arg}
            else:
                internal_date = datetime.strptime(str(arg), "%d-%b-%Y %H:%M:%S %z")
        data = args[-1]
        if not isinstance(data, bytes):
            await send(f"{tag} BAD APPEND needs a literal")
            return True
        if name is None:
            await send(f"{tag} NO [TRYCREATE] Mailbox doesn't exist: {args[0]!s}")
            return True
        with self._lock:
            self.mailboxes[name].append(Stored(data, flags, internal_date))
            count = len(self.mailboxes[name])
            drop = self._drop_after_append > 0
            if drop:
                self._drop_after_append -= 1
        if drop:
            writer.transport.abort()
            return False
        await send(f"{tag} OK [APPENDUID 1 {count}] APPEND completed")
        return True


# -- Debian's Dovecot -------------------------------------------------------------------------


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (path for path in ("/usr/sbin/dovecot",) if os.access(path, os.X_OK)), None
    )


class Dovecot:
    """Debian's Dovecot on 127.0.0.1 with one passwd-file user and maildirs in a temporary
    directory. Folders: INBOX, "Sent Items" (\\Sent), Drafts (\\Drafts), "Éléments envoyés"
    (no special use), created when the user first logs in."""

    folders = ("INBOX", "Sent Items", "Drafts", "Éléments envoyés")

    def __init__(self, *, user: str = "anne@fidu.test", password: str = "secret") -> None:  # noqa: S107
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError("dovecot is not installed")
        self.binary = binary
        self.host = HOST
        self.port = free_port()
        self.security = "none"
        self.user = user
        self.password = password
        # Not under pytest's private temporary directory: Dovecot's unprivileged processes
        # must reach the mail directory when the tests run as root.
        self.directory = Path(tempfile.mkdtemp(prefix="courrier-dovecot-"))
        self._process: subprocess.Popen[bytes] | None = None

    def _config(self) -> Path:
        directory = self.directory
        for sub in ("run", "state", "home"):
            (directory / sub).mkdir()
        (directory / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        if os.geteuid() == 0:
            # Dovecot refuses mail processes as root: the mailbox belongs to "nobody".
            mail_user = pwd.getpwnam("nobody")
            internal = "dovecot"
            login = "dovenull"
            # Readable by that user and by Dovecot's own, none of them root.
            os.chmod(directory, 0o755)  # noqa: S103
            os.chown(directory / "home", mail_user.pw_uid, mail_user.pw_gid)
        else:
            mail_user = pwd.getpwuid(os.getuid())
            internal = login = mail_user.pw_name
        uid, gid = mail_user.pw_uid, mail_user.pw_gid
        config = directory / "dovecot.conf"
        config.write_text(
            f"""
base_dir = {directory}/run
state_dir = {directory}/state
log_path = {directory}/dovecot.log
protocols = imap
listen = {HOST}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {directory}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={directory}/home/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
  mailbox "Sent Items" {{
    special_use = \\Sent
    auto = create
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = create
  }}
  mailbox "Éléments envoyés" {{
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
# No growing delay after failed logins: the tests fail on purpose, all from 127.0.0.1.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
"""
        )
        return config

    def start(self) -> Dovecot:
        config = self._config()
        self._process = subprocess.Popen(
            [self.binary, "-F", "-c", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = self._process.stdout.read().decode() if self._process.stdout else ""
                raise RuntimeError(f"dovecot stopped at once: {output}")
            try:
                connection = imaplib.IMAP4(self.host, self.port, timeout=2)
            except OSError:
                time.sleep(0.05)
                continue
            connection.logout()
            return self
        self.stop()
        raise RuntimeError("dovecot did not start listening")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            if process.stdout:
                process.stdout.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stored(self, folder: str) -> list[Stored]:
        """What the folder holds, read back over IMAP (without marking anything read)."""
        connection = imaplib.IMAP4(self.host, self.port, timeout=5)
        try:
            connection.login(self.user, self.password)
            typ, count = connection.select('"' + _wire_name(folder) + '"', readonly=True)
            if typ != "OK" or count[0] in (b"0", None):
                return []
            typ, data = connection.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
            if typ != "OK":
                return []
            return list(_fetched(data))
        finally:
            connection.logout()


def _fetched(data: list[Any]) -> Iterator[Stored]:
    for item in data:
        if not isinstance(item, tuple):
            continue
        head = item[0].decode()
        flags = re.search(r"FLAGS \(([^)]*)\)", head)
        date = re.search(r'INTERNALDATE "([^"]+)"', head)
        internal = datetime.strptime(date.group(1), "%d-%b-%Y %H:%M:%S %z") if date else None
        yield Stored(
            data=item[1],
            flags=set(flags.group(1).split()) if flags else set(),
            internal_date=internal,
        )


# The mailbox most tests use: INBOX, "Sent Items" marked \\Sent, Drafts, "Éléments envoyés".
FOLDERS = {"INBOX": "", "Sent Items": "\\Sent", "Drafts": "\\Drafts", "Éléments envoyés": ""}


@dataclass
class IMAPAccount:
    """What a profile needs to reach a server: the same for the fake and for Dovecot."""

    host: str
    port: int
    security: str
    user: str
    password: str
    server: Any = field(repr=False)

    def stored(self, folder: str) -> list[Stored]:
        result = self.server.stored(folder)
        assert isinstance(result, list)
        return result


def account_of(server: FakeIMAPServer | Dovecot) -> IMAPAccount:
    """The account a profile logs in with on `server` (its first user for the fake)."""
    if isinstance(server, Dovecot):
        user, password = server.user, server.password
    else:
        user, password = next(iter(server.users.items()))
    return IMAPAccount(
        host=server.host,
        port=server.port,
        security=server.security,
        user=user,
        password=password,
        server=server,
    )


def parsed_date(raw: bytes) -> datetime:
    """The Date header of a stored message."""
    message = email.message_from_bytes(raw)
    return email.utils.parsedate_to_datetime(str(message["Date"]))
