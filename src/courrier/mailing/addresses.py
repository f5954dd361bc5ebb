"""E-mail addresses as they travel: the domain in its ASCII form, the local part as written.

A domain with accents (``jean@exämple.be``) is written in its ASCII form in the envelope and
in the headers (IDNA 2008 with the UTS 46 mapping, as browsers and mail providers do:
``jean@xn--exmple-cua.be``); every server and provider takes that form. Python's own "idna"
codec is IDNA 2003, which turns ``faß.de`` into another domain (``fass.de``): the `idna`
package is used instead, for the envelope and the headers alike, so that both always name
the same domain.

A local part with accents (``josé@…``) cannot be written in ASCII: only a server that offers
SMTPUTF8 (RFC 6531) can take it, so the SMTP transport decides, per recipient. The HTTP APIs
(Gmail, Microsoft Graph, SendGrid, anymail's providers) document no such addresses: they are
given the ASCII ones only (`envelope_ascii`), and the others are left out with a reason.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import idna

from courrier.mailing.exceptions import PermanentError
from courrier.texts import Lines, Text
from courrier.texts import sentence as _


class AddressError(ValueError):
    """An address whose domain has no valid internationalised form (``x@☃.net``)."""


@functools.lru_cache(maxsize=4096)
def domain_ascii(domain: str) -> str:
    """The domain in ASCII (``exämple.be`` -> ``xn--exmple-cua.be``); an ASCII one unchanged."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise AddressError(str(exc)) from exc


def address_ascii(address: str) -> str:
    """The address with its domain in ASCII; the local part stays as written (it is ASCII
    unless `needs_smtputf8`). Raises `AddressError` for a domain with no valid ASCII form."""
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    return f"{local}@{domain_ascii(domain)}"


def needs_smtputf8(address: str) -> bool:
    """Whether the address, its domain written in ASCII, still needs SMTPUTF8 (a local part
    with accents)."""
    return not address.rpartition("@")[0].isascii()


def header_address_ascii(value: str) -> str:
    """A header's address (``Name <local@domain>`` or ``local@domain``) with its domain in
    ASCII; the display name is left to the header's own encoding."""
    if value.isascii():
        return value
    head, bracket, tail = value.rpartition("<")
    if bracket and tail.endswith(">"):
        return f"{head}<{address_ascii(tail[:-1])}>"
    return address_ascii(value)


def envelope_ascii(addresses: Iterable[str]) -> tuple[list[str], list[str]]:
    """The addresses written in ASCII, for a provider that takes only those, and the ones
    left out (a domain with no valid form, an accent before the @)."""
    written: list[str] = []
    left_out: list[str] = []
    for address in addresses:
        try:
            ascii_form = address_ascii(address)
        except AddressError:
            left_out.append(address)
            continue
        if needs_smtputf8(ascii_form):
            left_out.append(address)
        else:
            written.append(ascii_form)
    return written, left_out


def envelope_for_api(addresses: Iterable[str]) -> tuple[list[str], Text | None]:
    """`envelope_ascii` for an HTTP API: the addresses to give it, and why the others were
    left out. Raises PermanentError, before anything is sent, when none is left."""
    written, left_out = envelope_ascii(addresses)
    if not written:
        raise PermanentError(left_out_text(left_out) or _("Le message n'a aucun destinataire."))
    return written, left_out_text(left_out)


def left_out_text(addresses: list[str]) -> Text | None:
    """Why `addresses` did not get the message (None when there are none)."""
    if not addresses:
        return None
    return _(
        "Non remis à %(addresses)s : cette méthode d'envoi ne peut pas transmettre cette adresse "
        "(nom de domaine invalide, ou accents avant le @)."
    ) % {"addresses": ", ".join(addresses)}


def with_left_out(answer: str, why: Text | None) -> str | Text:
    """The provider's answer, then why some recipients were left out, if any were."""
    return answer if why is None else Lines(answer, why)
