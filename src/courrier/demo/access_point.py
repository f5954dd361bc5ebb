"""A Peppol access point on 127.0.0.1 that speaks both Billit's and Recommand's APIs.

The demo sends its invoices through it, like its SMTP catcher takes its mails; the tests send
through it instead of patching HTTP. It keeps every document it took (with the UBL as sent), a
registry of participants (which Peppol id receives which document types), statuses that
progress (`accepted`, then `delivered`, or `rejected` for the receivers told to refuse), the
buyer's answers when told, and honours Billit's `Idempotent-Key`. It checks each API's
authentication as the real one does, and can be told to fail::

    with FakeAccessPoint() as ap:
        ap.base_url                               # for a profile's api_base_url
        ap.register("0208:0123456749")            # receives invoices and credit notes
        ap.refuse("0208:0987654321", "Unknown buyer")  # accepted, then rejected
        ap.fail_next(429, retry_after=30)         # or 500, 401, 400; times=N
        ap.drop_next()                            # reads the body, then closes the connection
        ap.advance()                              # accepted -> delivered / rejected
        ap.respond(doc_id, "approved")            # the buyer's answer (Billit)
        ap.webhook_url, ap.webhook_secret = url, secret   # push each change as the API does

Billit's webhook is signed (`Billit-Signature: t=…,s=…`, HMAC-SHA256 of "t.body"); Recommand's
is not (its documentation describes none): it names the document, which is read again.

`courrier demo` runs one with `auto_deliver_after` (a document taken is delivered that many
seconds later by a background thread, and its webhook pushed; a push the receiver did not take
is tried again for a minute, as a provider retries) and a `directory`: each document is kept
there as it arrived, ``<id>.xml`` byte for byte and ``<id>.json`` for what the demo's page
shows (receiver, type, status), and read back at the next start, so that its ids never repeat
and the documents of an earlier run can still be asked for. `received_list` and
`received_path` read that directory for the demo's page, in the web server's process.

Its size: two providers' APIs (authentication, sending, statuses, participants, errors as each
writes them), their webhooks, and the demo's own life (delivery by itself, documents kept on
disk) in one module, because one loopback server must answer both as the tests and the demo
use it; split, each half would repeat the documents, the registry and the scripted failures.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from lxml import etree

INVOICE = (
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:cen.eu:en16931:2017"
    "#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
)
CREDIT_NOTE = (
    "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::CreditNote##urn:cen.eu:en16931"
    ":2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
)
BILLIT_NAMES = {INVOICE: "BISv3Invoice", CREDIT_NOTE: "BISv3CreditNote"}
_ROOTS = {"Invoice": INVOICE, "CreditNote": CREDIT_NOTE}
_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)

# The credentials it checks by default: the demo's Billit profile is seeded with them.
DEMO_BILLIT_KEY = "billit-demo-key"
DEMO_BILLIT_PARTY = "424242"

RECEIVED_DIRNAME = "demo-peppol"
# What the access point writes: "<id>.json" beside "<id>.xml"; nothing else is a document.
DOCUMENT_ID_RE = re.compile(r"^(?:doc_)?[0-9]{1,12}$")
# A webhook the receiver did not take is pushed again every PUSH_RETRY_SECONDS, PUSH_TRIES times.
PUSH_RETRY_SECONDS = 2.0
PUSH_TRIES = 30


@dataclass
class Document:
    """One document the access point took."""

    api: str  # "billit" or "recommand"
    id: str
    receiver: str
    document_type: str
    xml: bytes
    idempotency_key: str = ""
    state: str = "accepted"  # accepted, delivered, rejected, acknowledged, approved, ...
    detail: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Read from the UBL for the demo's page: the document's number and the buyer's name.
    number: str = ""
    buyer_name: str = ""

    def description(self) -> dict[str, str]:
        """What the directory keeps beside the XML."""
        return {
            "api": self.api,
            "id": self.id,
            "receiver": self.receiver,
            "document_type": self.document_type,
            "idempotency_key": self.idempotency_key,
            "state": self.state,
            "detail": self.detail,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "number": self.number,
            "buyer_name": self.buyer_name,
        }

    @classmethod
    def described(cls, description: dict[str, Any], xml: bytes) -> Document:
        return cls(
            api=str(description["api"]),
            id=str(description["id"]),
            receiver=str(description["receiver"]),
            document_type=str(description["document_type"]),
            xml=xml,
            idempotency_key=str(description.get("idempotency_key") or ""),
            state=str(description.get("state") or "accepted"),
            detail=str(description.get("detail") or ""),
            created_at=datetime.fromisoformat(description["created_at"]),
            updated_at=datetime.fromisoformat(description["updated_at"]),
            number=str(description.get("number") or ""),
            buyer_name=str(description.get("buyer_name") or ""),
        )


@dataclass
class _Failure:
    status: int  # 0: drop the connection after reading the body
    retry_after: int | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


def _norm(peppol_id: str) -> str:
    return "".join(peppol_id.split()).lower()


class FakeAccessPoint:
    def __init__(
        self,
        *,
        billit_key: str = DEMO_BILLIT_KEY,
        billit_party: str = DEMO_BILLIT_PARTY,
        recommand_key: str = "key_demo",
        recommand_secret: str = "secret_demo",  # noqa: S107 (the fake's own demo credentials)
        recommand_company: str = "c_demo",
        company_name: str = "Fiduciaire Démo",
        auto_deliver_after: float | None = None,
        directory: Path | None = None,
    ) -> None:
        self.billit_key = billit_key
        self.billit_party = billit_party
        self.recommand_key = recommand_key
        self.recommand_secret = recommand_secret
        self.recommand_company = recommand_company
        self.company_name = company_name
        # The demo lets documents arrive by themselves after this many seconds.
        self.auto_deliver_after = auto_deliver_after
        # Where each document is kept as it arrived (None: in memory only).
        self.directory = directory
        self.participants: dict[str, set[str]] = {}
        self.refusing: dict[str, str] = {}
        self.documents: list[Document] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhooks_sent: list[tuple[int, bytes]] = []
        self._failures: list[_Failure] = []
        self._ids = itertools.count(9_000_001)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ticking = threading.Event()
        self._ticker: threading.Thread | None = None
        # Document id -> (pushes tried, when to try again): webhooks not taken yet.
        self._unpushed: dict[str, tuple[int, float]] = {}

    # -- life -----------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1:`port` (0: any free port). Raises OSError when it is taken."""
        if self.directory is not None:
            self._load()
        handler = _handler_for(self)
        self._server = _Server(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        if self.auto_deliver_after is not None:
            self._ticking.clear()
            self._ticker = threading.Thread(target=self._tick_forever, daemon=True)
            self._ticker.start()
        return self.base_url

    def stop(self) -> None:
        self._ticking.set()
        if self._ticker is not None:
            self._ticker.join(timeout=15)
            self._ticker = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeAccessPoint:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- what a test or the demo tells it -------------------------------------------------------

    def register(self, peppol_id: str, *document_types: str) -> None:
        with self._lock:
            self.participants[_norm(peppol_id)] = set(document_types or (INVOICE, CREDIT_NOTE))

    def refuse(self, peppol_id: str, reason: str = "The receiver refused the document.") -> None:
        """The receiver is registered, takes the document, then its access point rejects it."""
        self.register(peppol_id)
        with self._lock:
            self.refusing[_norm(peppol_id)] = reason

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1) -> None:
        with self._lock:
            self._failures.extend(_Failure(status, retry_after) for _ in range(times))

    def drop_next(self, *, times: int = 1) -> None:
        """Read the next request's body, then close the connection without answering."""
        self.fail_next(0, times=times)

    def document(self, document_id: str) -> Document | None:
        with self._lock:
            return next((d for d in self.documents if d.id == document_id), None)

    def advance(self, document_id: str | None = None) -> list[Document]:
        """Move accepted documents on: delivered, or rejected for a refusing receiver."""
        changed = []
        with self._lock:
            for doc in self.documents:
                if doc.state != "accepted" or document_id not in (None, doc.id):
                    continue
                reason = self.refusing.get(_norm(doc.receiver))
                doc.state, doc.detail = ("rejected", reason) if reason else ("delivered", "")
                doc.updated_at = _now()
                self._save(doc)
                changed.append(doc)
        for doc in changed:
            self.push(doc)
        return changed

    def respond(self, document_id: str, state: str, detail: str = "") -> None:
        """The buyer's business answer: acknowledged, approved, disputed or paid."""
        with self._lock:
            doc = self.document(document_id)
            assert doc is not None, document_id
            doc.state, doc.detail, doc.updated_at = state, detail, _now()
            self._save(doc)
        self.push(doc)

    # -- the demo's own life: delivery by itself, the documents kept on disk ---------------------

    def _tick_forever(self) -> None:
        assert self.auto_deliver_after is not None
        pause = min(0.5, max(0.05, self.auto_deliver_after / 4))
        while not self._ticking.wait(pause):
            try:
                self.tick()
            except Exception:  # the thread must outlive a bad moment
                time.sleep(pause)

    def tick(self, *, now: float | None = None) -> None:
        """Deliver the documents taken `auto_deliver_after` seconds ago, and push again the
        webhooks that were not taken (when they are due)."""
        if self.auto_deliver_after is not None:
            with self._lock:
                due = [
                    doc.id
                    for doc in self.documents
                    if doc.state == "accepted"
                    and (_now() - doc.created_at).total_seconds() >= self.auto_deliver_after
                ]
            for document_id in due:
                self.advance(document_id)
        moment = time.monotonic() if now is None else now
        with self._lock:
            again = [doc_id for doc_id, (_tries, at) in self._unpushed.items() if at <= moment]
        for document_id in again:
            doc = self.document(document_id)
            if doc is not None:
                self.push(doc)

    def _load(self) -> None:
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        loaded = []
        for path in self.directory.glob("*.json"):
            if not DOCUMENT_ID_RE.match(path.stem):
                continue
            try:
                description = json.loads(path.read_text(encoding="utf-8"))
                loaded.append(
                    Document.described(description, path.with_suffix(".xml").read_bytes())
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
        loaded.sort(key=lambda doc: (doc.created_at, doc.id))
        with self._lock:
            known = {doc.id for doc in self.documents}
            self.documents.extend(doc for doc in loaded if doc.id not in known)
            numbers = [_number(doc.id) for doc in self.documents]
            self._ids = itertools.count(max([9_000_000, *numbers]) + 1)

    def _save(self, doc: Document) -> None:
        """Write the document's XML once, and its description each time it changes (by rename:
        a reader never sees half a file)."""
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        xml_path = self.directory / f"{doc.id}.xml"
        if not xml_path.exists():
            _write(xml_path, doc.xml)
        _write(
            self.directory / f"{doc.id}.json",
            json.dumps(doc.description(), ensure_ascii=False, indent=1).encode("utf-8"),
        )

    # -- webhooks -------------------------------------------------------------------------------

    def webhook_body(self, doc: Document) -> bytes:
        if doc.api == "billit":
            return json.dumps(self._billit_order(doc)).encode("utf-8")
        return json.dumps(
            {
                "eventType": "document.updated",
                "documentId": doc.id,
                "teamId": "team_demo",
                "companyId": self.recommand_company,
            }
        ).encode("utf-8")

    def webhook_headers(
        self, doc: Document, body: bytes, *, at: int | None = None
    ) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if doc.api == "billit":
            stamp = str(int(time.time()) if at is None else at)
            signature = hmac.new(
                self.webhook_secret.encode("utf-8"),
                stamp.encode("ascii") + b"." + body,
                hashlib.sha256,
            ).hexdigest()
            headers["Billit-Signature"] = f"t={stamp},s={signature}"
        return headers

    def push(self, doc: Document) -> None:
        """Post the document's change to the webhook address, as its API does (if one is set)."""
        if not self.webhook_url:
            return
        body = self.webhook_body(doc)
        try:
            response = requests.post(
                self.webhook_url, data=body, headers=self.webhook_headers(doc, body), timeout=10
            )
            status = response.status_code
        except requests.RequestException:
            status = 0
        with self._lock:
            self.webhooks_sent.append((status, body))
            tries, _at = self._unpushed.pop(doc.id, (0, 0.0))
            if not 200 <= status < 300 and tries + 1 < PUSH_TRIES:
                # Tried again by `tick` (the demo's thread): the receiver may be starting.
                self._unpushed[doc.id] = (tries + 1, time.monotonic() + PUSH_RETRY_SECONDS)

    # -- the APIs -------------------------------------------------------------------------------

    def _take_failure(self) -> _Failure | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _auto(self, doc: Document) -> None:
        if (
            self.auto_deliver_after is not None
            and doc.state == "accepted"
            and (_now() - doc.created_at).total_seconds() >= self.auto_deliver_after
        ):
            self.advance(doc.id)

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        failure = self._take_failure()
        api = "recommand" if path.startswith("/api/") else "billit"
        if failure is not None and failure.status == 0:
            return 0, {}, None
        if failure is not None:
            extra = {}
            if failure.retry_after is not None:
                extra["Retry-After"] = str(failure.retry_after)
            return failure.status, extra, _error(api, f"scripted failure {failure.status}")
        if api == "billit":
            return self._billit(method, path, headers, body)
        return self._recommand(method, path, headers, body)

    def _billit(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        if headers.get("apikey") != self.billit_key:
            return 401, {}, _error("billit", "Invalid API key")
        if headers.get("partyid") != self.billit_party:
            return 403, {}, _error("billit", "You have no access to this party")
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if method == "POST" and [p.lower() for p in parts] == ["v1", "peppol", "sendxml"]:
            return self._billit_send(headers, body)
        if method == "GET" and parts[:2] == ["v1", "orders"] and len(parts) == 3:
            doc = self.document(parts[2])
            if doc is None or doc.api != "billit":
                return 404, {}, _error("billit", "Order not found")
            self._auto(doc)
            return 200, {}, self._billit_order(doc)
        if method == "GET" and [p.lower() for p in parts[:3]] == [
            "v1",
            "peppol",
            "participantinformation",
        ]:
            asked = parts[3] if len(parts) == 4 else ""
            return 200, {}, self._billit_participant(asked)
        if method == "GET" and parts[:2] == ["v1", "parties"] and len(parts) == 3:
            if parts[2] != self.billit_party:
                return 404, {}, _error("billit", "Party not found")
            return 200, {}, {"PartyID": int(self.billit_party), "Name": self.company_name}
        return 404, {}, _error("billit", "Not found")

    def _billit_send(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
        try:
            xml = str(json.loads(body)["XML"]).encode("utf-8")
        except (ValueError, KeyError, TypeError):
            return 400, {}, _error("billit", "The request body must hold the UBL in XML.")
        key = headers.get("idempotent-key", "")
        with self._lock:
            if key:
                earlier = next(
                    (d for d in self.documents if d.api == "billit" and d.idempotency_key == key),
                    None,
                )
                if earlier is not None:
                    return 200, {}, {"OrderID": int(earlier.id)}
        parsed = _read_ubl(xml)
        if isinstance(parsed, str):
            return 400, {}, _error("billit", parsed)
        document_type, receiver = parsed
        problem = self._cannot_receive(receiver, document_type)
        if problem:
            return 400, {}, _error("billit", problem)
        doc = self._keep("billit", receiver, document_type, xml, key)
        return 200, {}, {"OrderID": int(doc.id)}

    def _billit_order(self, doc: Document) -> dict[str, Any]:
        details: dict[str, Any] = {"IsDocumentDelivered": False, "DocumentDeliveryStatus": None}
        if doc.state == "accepted":
            details["DocumentDeliveryStatus"] = "Pending"
        elif doc.state == "rejected":
            details.update(
                DocumentDeliveryStatus="Error",
                DocumentRefusedDate=_iso(doc.updated_at),
                DocumentRefusedInfo=doc.detail,
            )
        else:
            info = {
                "acknowledged": "Received",
                "approved": "Approved",
                "disputed": "Rejected",
                "paid": "Paid",
            }.get(doc.state)
            details.update(
                IsDocumentDelivered=True,
                DocumentDeliveryStatus="Delivered",
                DocumentDeliveryDate=_iso(doc.updated_at),
            )
            if info:
                details["DocumentDeliveryInfo"] = info
        return {
            "OrderID": int(doc.id),
            "CompanyID": int(self.billit_party),
            "OrderType": "CreditNote" if doc.document_type == CREDIT_NOTE else "Invoice",
            "CurrentDocumentDeliveryDetails": details,
        }

    def _billit_participant(self, asked: str) -> dict[str, Any]:
        candidates = [asked] if ":" in asked else [f"0208:{asked}", f"9925:{asked}"]
        for candidate in candidates:
            types = self.participants.get(_norm(candidate))
            if types is not None:
                return {
                    "Registered": True,
                    "Identifier": candidate,
                    "DocumentTypes": sorted(BILLIT_NAMES.get(t, t) for t in types),
                }
        return {"Registered": False, "Identifier": candidates[0], "DocumentTypes": []}

    def _recommand(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        expected = base64.b64encode(
            f"{self.recommand_key}:{self.recommand_secret}".encode()
        ).decode("ascii")
        if headers.get("authorization") != f"Basic {expected}":
            return 401, {}, _error("recommand", "Unauthorized")
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if method == "POST" and len(parts) == 4 and parts[3] == "send":
            if parts[2] != self.recommand_company:
                return 404, {}, _error("recommand", "Company not found")
            return self._recommand_send(body)
        if method == "GET" and parts[:3] == ["api", "v1", "documents"] and len(parts) == 4:
            doc = self.document(parts[3])
            if doc is None or doc.api != "recommand":
                return 404, {}, _error("recommand", "Document not found")
            self._auto(doc)
            return 200, {}, {"success": True, "document": self._recommand_document(doc)}
        if method == "POST" and parts == ["api", "v1", "verify"]:
            asked = _json_field(body, "peppolAddress")
            return 200, {}, {"success": True, "isValid": _norm(asked) in self.participants}
        if method == "POST" and parts == ["api", "v1", "verify-document-support"]:
            asked = _json_field(body, "peppolAddress")
            wanted = _json_field(body, "documentType")
            types = self.participants.get(_norm(asked), set())
            return 200, {}, {"success": True, "isValid": wanted in types}
        if method == "GET" and parts[:3] == ["api", "v1", "companies"] and len(parts) == 4:
            if parts[3] != self.recommand_company:
                return 404, {}, _error("recommand", "Company not found")
            company = {"id": self.recommand_company, "name": self.company_name}
            return 200, {}, {"success": True, "company": company}
        return 404, {}, _error("recommand", "Not found")

    def _recommand_send(self, body: bytes) -> tuple[int, dict[str, str], Any]:
        try:
            payload = json.loads(body)
            receiver = str(payload["recipient"])
            xml = str(payload["document"]).encode("utf-8")
        except (ValueError, KeyError, TypeError):
            return 400, {}, _error("recommand", "Invalid request body", field="document")
        if payload.get("documentType") != "xml":
            return 400, {}, _error("recommand", "Only raw XML is accepted here", field="document")
        parsed = _read_ubl(xml)
        if isinstance(parsed, str):
            return 400, {}, _error("recommand", parsed, field="document")
        document_type, _endpoint = parsed
        problem = self._cannot_receive(receiver, document_type)
        if problem:
            return 400, {}, _error("recommand", problem, field="recipient")
        reason = self.refusing.get(_norm(receiver))
        if reason:
            # Recommand delivers over AS4 before it answers: a refusal comes back at once.
            return 422, {}, _error("recommand", reason, field="recipient")
        doc = self._keep("recommand", receiver, document_type, xml, "", state="delivered")
        return (
            200,
            {},
            {
                "success": True,
                "sentOverPeppol": True,
                "sentOverEmail": False,
                "teamId": "team_demo",
                "companyId": self.recommand_company,
                "id": doc.id,
                "peppolMessageId": f"msg-{doc.id}",
            },
        )

    def _recommand_document(self, doc: Document) -> dict[str, Any]:
        delivered = doc.state != "accepted" and doc.state != "rejected"
        return {
            "id": doc.id,
            "companyId": self.recommand_company,
            "direction": "outgoing",
            "receiverId": doc.receiver,
            "docTypeId": doc.document_type,
            "type": "creditNote" if doc.document_type == CREDIT_NOTE else "invoice",
            "createdAt": doc.created_at.isoformat(),
            "updatedAt": doc.updated_at.isoformat(),
            "sentOverPeppol": delivered,
            "peppolMessageId": f"msg-{doc.id}",
            "receivedPeppolSignalMessage": "<eb:Receipt/>" if delivered else None,
        }

    def _cannot_receive(self, receiver: str, document_type: str) -> str:
        types = self.participants.get(_norm(receiver))
        if types is None:
            return f"The receiver {receiver} is not registered on the Peppol network."
        if document_type not in types:
            return f"The receiver {receiver} does not accept this document type."
        return ""

    def _keep(
        self,
        api: str,
        receiver: str,
        document_type: str,
        xml: bytes,
        key: str,
        *,
        state: str = "accepted",
    ) -> Document:
        number_text, buyer_name = _names(xml)
        with self._lock:
            number = next(self._ids)
            doc = Document(
                api=api,
                id=str(number) if api == "billit" else f"doc_{number}",
                receiver=receiver,
                document_type=document_type,
                xml=xml,
                idempotency_key=key,
                state=state,
                number=number_text,
                buyer_name=buyer_name,
            )
            self.documents.append(doc)
            self._save(doc)
        return doc


def _names(xml: bytes) -> tuple[str, str]:
    """The number and the buyer's name a UBL document carries (empty when unreadable)."""
    try:
        root = etree.fromstring(xml, parser=_PARSER)
    except etree.XMLSyntaxError:
        return "", ""
    party = f"{{{_CAC}}}AccountingCustomerParty/{{{_CAC}}}Party"
    name = root.findtext(
        f"{party}/{{{_CAC}}}PartyLegalEntity/{{{_CBC}}}RegistrationName"
    ) or root.findtext(f"{party}/{{{_CAC}}}PartyName/{{{_CBC}}}Name")
    return (root.findtext(f"{{{_CBC}}}ID") or "").strip(), (name or "").strip()


def _number(document_id: str) -> int:
    digits = document_id.removeprefix("doc_")
    return int(digits) if digits.isdigit() else 0


def _write(path: Path, content: bytes) -> None:
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(content)
    os.replace(partial, path)


# -- what the demo's page reads -------------------------------------------------------------------


def received_dir(data_dir: Path) -> Path:
    return data_dir / RECEIVED_DIRNAME


def received_list(directory: Path, *, limit: int = 200) -> list[Document]:
    """The documents kept in `directory`, the newest first (their XML not read)."""
    found = []
    with contextlib.suppress(OSError):
        for path in directory.glob("*.json"):
            if not DOCUMENT_ID_RE.match(path.stem):
                continue
            try:
                found.append(Document.described(json.loads(path.read_text(encoding="utf-8")), b""))
            except (OSError, ValueError, KeyError, TypeError):
                continue
    found.sort(key=lambda doc: (doc.created_at, _number(doc.id)), reverse=True)
    return found[:limit]


def received_path(directory: Path, document_id: str) -> Path | None:
    """The XML of one kept document, exactly as it arrived; None for any other name."""
    if not DOCUMENT_ID_RE.match(document_id):
        return None
    path = directory / f"{document_id}.xml"
    return path if path.is_file() else None


def _error(api: str, text: str, *, field: str = "request") -> dict[str, Any]:
    if api == "billit":
        return {"errors": [{"Code": "Error", "Description": text}]}
    return {"success": False, "errors": {field: [text]}}


def _json_field(body: bytes, name: str) -> str:
    try:
        return str(json.loads(body).get(name) or "")
    except (ValueError, AttributeError):
        return ""


def _read_ubl(xml: bytes) -> tuple[str, str] | str:
    """(document type, buyer endpoint) of a UBL invoice or credit note, or the error text."""
    try:
        root = etree.fromstring(xml, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        return f"The XML cannot be read: {exc}"
    document_type = _ROOTS.get(etree.QName(root).localname)
    if document_type is None:
        return "[BR-01] The document is neither an Invoice nor a CreditNote."
    endpoint = root.find(f"{{{_CAC}}}AccountingCustomerParty/{{{_CAC}}}Party/{{{_CBC}}}EndpointID")
    if endpoint is None or not (endpoint.text or "").strip():
        return "[PEPPOL-EN16931-R010] Buyer electronic address MUST be provided"
    return document_type, f"{endpoint.get('schemeID', '')}:{endpoint.text.strip()}"


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up before the answer is not worth a traceback in the demo's
        # terminal; anything else is.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _handler_for(access_point: FakeAccessPoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            path = urlsplit(self.path).path
            with access_point._lock:
                access_point.requests.append((self.command, path, headers))
            status, extra, answer = access_point.handle(self.command, path, headers, body)
            if status == 0:
                self.close_connection = True
                return  # the body was read; no answer at all
            data = json.dumps(answer).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

    return Handler
