"""Recommand's Peppol API as an access point: the UBL is sent as it is, by its send endpoint.

What its documentation says (recommand.eu/docs: "Getting Started", "Sending Invoices",
"Verifying Recipients", "Working with Webhooks", "Receiving Documents", "Company
Verification"; docs.recommand.eu/reference: "Send Document", "Get Document", "List Documents"),
and what is done with it:

- Authentication: HTTP Basic, the API key as user and the API secret as password.
- `POST /api/v1/{companyId}/send` with `{"recipient": "0208:…", "documentType": "xml",
  "document": "<the UBL>", "doctypeId": "…"}` (a raw, fully Peppol-compliant XML is accepted
  there); the answer is `{"success": true, "id": …, "sentOverPeppol": …, "peppolMessageId":
  …}`, a refusal `{"success": false, "errors": {field: [messages]}}`. Recommand verifies the
  recipient itself and refuses to send to one not on Peppol.
- `GET /api/v1/documents/{documentId}`: the document with `sentOverPeppol`, its
  `peppolMessageId` and the AS4 receipt (`receivedPeppolSignalMessage`).
- `POST /api/v1/verify` `{"peppolAddress": …}` → `isValid`, `smpUrl`; and
  `POST /api/v1/verify-document-support` `{"peppolAddress", "documentType"}` → `isValid`, asked
  for the invoice and credit-note types.
- `GET /api/v1/companies/{companyId}` for the connection test (reads, changes nothing).
- Webhooks post `{"eventType", "documentId", "teamId", "companyId"}`.
- Production `https://app.recommand.eu`; the "playground" is a team of the same address.

Where the documentation is silent, the safe choice: no idempotency key is documented, so none
is relied on — a send whose connection broke after the document went out is "uncertain" and
never resent automatically; a 5xx is retried like any temporary failure. No webhook signature
is documented, so a webhook's body is never believed: it only says which document to read
again, through the API with the profile's own credentials (`mailing.webhooks.recommand`). No
status for the buyer's business responses is documented for a sent document, so Recommand
reports delivery (or refusal) only. The send endpoint delivers over AS4 before it answers: an
answer with `sentOverPeppol` is a delivered document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests
from django.conf import settings

from courrier.mailing.exceptions import PermanentError, ProfileRejected
from courrier.peppol.access_points.base import (
    CREDIT_NOTE_DOCUMENT_TYPE,
    INVOICE_DOCUMENT_TYPE,
    AccessPoint,
    DocumentState,
    DocumentStatus,
    Participant,
    Sent,
)
from courrier.peppol.access_points.http import Client
from courrier.texts import sentence as _

SEND_PATH = "/api/v1/{company}/send"
DOCUMENT_PATH = "/api/v1/documents/{id}"
VERIFY_PATH = "/api/v1/verify"
SUPPORT_PATH = "/api/v1/verify-document-support"
COMPANY_PATH = "/api/v1/companies/{company}"


def production_url() -> str:
    return str(settings.PROVIDER_URLS["RECOMMAND"])


def _when(value: Any) -> datetime | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def status_of(document: Any) -> DocumentStatus:
    """The status a document object (GET /api/v1/documents/{id}) says."""
    if not isinstance(document, dict):
        return DocumentStatus(DocumentState.ACCEPTED)
    validation = document.get("validation")
    if isinstance(validation, dict) and str(validation.get("result") or "") == "invalid":
        errors = validation.get("errors") or []
        detail = " ; ".join(
            str(error.get("errorMessage") or "").strip()
            for error in errors
            if isinstance(error, dict) and error.get("errorMessage")
        )
        return DocumentStatus(DocumentState.REJECTED, _when(document.get("updatedAt")), detail)
    if document.get("receivedPeppolSignalMessage") or document.get("sentOverPeppol"):
        return DocumentStatus(
            DocumentState.DELIVERED,
            _when(document.get("updatedAt") or document.get("createdAt")),
            str(document.get("peppolMessageId") or ""),
        )
    return DocumentStatus(DocumentState.ACCEPTED)


class RecommandAccessPoint(AccessPoint):
    provider = "Recommand"

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        company_id: str,
        base_url: str = "",
        timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not api_key.strip() or not api_secret.strip() or not company_id.strip():
            raise ProfileRejected(
                _(
                    "La clé d'API, le secret d'API ou l'identifiant de la société chez Recommand "
                    "manque : complétez les paramètres Peppol de la société."
                )
            )
        self.company_id = company_id.strip()
        self.client = Client(
            provider=self.provider,
            base_url=base_url.strip() or production_url(),
            auth=(api_key.strip(), api_secret.strip()),
            timeout=timeout,
            session=session,
        )

    def send(
        self, *, xml: bytes, sender: str, receiver: str, document_type: str, idempotency_key: str
    ) -> Sent:
        answer = self.client.call(
            "POST",
            SEND_PATH.format(company=self.company_id),
            body={
                "recipient": receiver,
                "documentType": "xml",
                "document": xml.decode("utf-8"),
                "doctypeId": document_type,
            },
            sending=True,
            account_in_path=True,
        )
        if isinstance(answer, dict) and answer.get("success") is False:
            raise PermanentError(
                _("Le point d'accès Peppol %(provider)s refuse le document : %(reason)s")
                % {"provider": self.provider, "reason": str(answer.get("errors") or "?")[:300]}
            )
        document_id = str(answer.get("id") or "") if isinstance(answer, dict) else ""
        over_peppol = isinstance(answer, dict) and bool(answer.get("sentOverPeppol"))
        return Sent(
            provider_id=document_id,
            answer=f"Recommand {document_id or '?'}" + (" sentOverPeppol" if over_peppol else ""),
        )

    def status(self, provider_id: str) -> DocumentStatus:
        answer = self.client.call("GET", DOCUMENT_PATH.format(id=provider_id))
        document = answer.get("document") if isinstance(answer, dict) else None
        return status_of(document)

    def lookup(self, peppol_id: str) -> Participant:
        answer = self.client.call("POST", VERIFY_PATH, body={"peppolAddress": peppol_id})
        registered = isinstance(answer, dict) and bool(answer.get("isValid"))
        if not registered:
            return Participant(peppol_id=peppol_id, registered=False)
        types = []
        for document_type in (INVOICE_DOCUMENT_TYPE, CREDIT_NOTE_DOCUMENT_TYPE):
            support = self.client.call(
                "POST",
                SUPPORT_PATH,
                body={"peppolAddress": peppol_id, "documentType": document_type},
            )
            if isinstance(support, dict) and support.get("isValid"):
                types.append(document_type)
        return Participant(peppol_id=peppol_id, registered=True, document_types=tuple(types))

    def check(self) -> str:
        answer = self.client.call(
            "GET", COMPANY_PATH.format(company=self.company_id), account_in_path=True
        )
        company = answer.get("company") if isinstance(answer, dict) else None
        name = company.get("name") if isinstance(company, dict) else ""
        return f"Recommand: {name or '?'} ({self.company_id})"

    def close(self) -> None:
        self.client.close()
