"""Peppol documents through a billing company's access point, with the outbox's guarantees.

A Peppol document is an outbound message of the `peppol` channel whose bytes are the UBL; its
profile belongs to the billing company (`SendingProfile.peppol_company`) and its method names
the access point's API (Billit, Recommand), built here from the profile's columns. `send` hands
the UBL over as it is, to the message's first envelope recipient (a Peppol identifier), as the
document type its root says, from the company's own identifier (`0208:` and its enterprise
number), under the message's idempotency key (its Message-ID when it has none), and returns the
access point's id for the document on the first line: delivery records it as the message's
`provider_message_id`, which statuses and webhooks are matched by.

The failures are those of the access points' module (`courrier.peppol.access_points.http`):
refused credentials hold the profile, a break after the document went out is "uncertain".
`max_message_bytes`: neither Billit nor Recommand documents a limit for the UBL; the outbox's
smallest common one (10 MB) is kept, far above a UBL invoice with its PDF.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from courrier.mailing.exceptions import ConfigurationError, PermanentError, ProfileRejected
from courrier.mailing.transports.base import Transport
from courrier.peppol.access_points.base import AccessPoint
from courrier.peppol.access_points.billit import BillitAccessPoint
from courrier.peppol.access_points.documents import document_type_of
from courrier.peppol.access_points.recommand import RecommandAccessPoint
from courrier.peppol.identifiers import normalise_peppol_id, peppol_id_of_company
from courrier.texts import sentence as _

if TYPE_CHECKING:
    from courrier.mailing.models import OutboundMessage, SendingProfile


def access_point_for(profile: SendingProfile, **options: Any) -> AccessPoint:
    """The API of the profile's access point, with its address and credentials (`options`:
    timeout, session). Raises ProfileRejected when a credential is missing."""
    if profile.method == profile.Method.BILLIT:
        return BillitAccessPoint(
            api_key=profile.api_key,
            party_id=profile.peppol_account,
            base_url=profile.api_base_url,
            **options,
        )
    if profile.method == profile.Method.RECOMMAND:
        return RecommandAccessPoint(
            api_key=profile.api_key,
            api_secret=profile.api_secret,
            company_id=profile.peppol_account,
            base_url=profile.api_base_url,
            **options,
        )
    raise ConfigurationError(
        _("La méthode « %(method)s » n'est pas un point d'accès Peppol.")
        % {"method": profile.method}
    )


def sender_of(profile: SendingProfile) -> str:
    """The billing company's Peppol identifier, or ProfileRejected saying what to fix."""
    company = profile.peppol_company
    if company is None:
        raise ProfileRejected(_("Ce paramétrage Peppol n'appartient à aucune société facturante."))
    try:
        return peppol_id_of_company(company.enterprise_number)
    except ValidationError as exc:
        raise ProfileRejected(
            _(
                "Le numéro d'entreprise de %(company)s ne permet pas de l'identifier sur "
                "Peppol : corrigez-le dans la fiche de la société."
            )
            % {"company": company.name},
            detail=" ".join(exc.messages)[:300],
        ) from exc


class PeppolTransport(Transport):
    """Sends Peppol documents through the access point of the profile's method."""

    def __init__(self, profile: SendingProfile, **options: Any) -> None:
        super().__init__(profile)
        self._options = options
        self._access_point: AccessPoint | None = None
        self._sender = ""

    @property
    def is_open(self) -> bool:
        return self._access_point is not None

    def open(self) -> None:
        if self._access_point is not None:
            return
        self._sender = sender_of(self.profile)
        self._access_point = access_point_for(self.profile, **self._options)

    def close(self) -> None:
        access_point, self._access_point = self._access_point, None
        if access_point is not None:
            access_point.close()

    def send(self, message: OutboundMessage) -> str:
        self.open()
        assert self._access_point is not None
        if not message.envelope_recipients:
            raise PermanentError(_("Le document Peppol n'a aucun destinataire."))
        try:
            receiver = normalise_peppol_id(message.envelope_recipients[0])
        except ValidationError as exc:
            raise PermanentError(
                _("Le destinataire %(receiver)s n'est pas un identifiant Peppol valide.")
                % {"receiver": str(message.envelope_recipients[0])[:80]},
                detail=" ".join(exc.messages)[:300],
            ) from exc
        xml = message.raw
        sent = self._access_point.send(
            xml=xml,
            sender=self._sender,
            receiver=receiver,
            document_type=document_type_of(xml),
            idempotency_key=message.idempotency_key or message.message_id,
        )
        return f"{sent.provider_id}\n{sent.answer}"
