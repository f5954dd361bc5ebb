"""E-mail addresses as they travel: the domain in its ASCII form, the local part as written.

A domain with accents (``jean@exämple.be``) is written in its ASCII form in the envelope and
in the headers (IDNA 2008 with the UTS 46 mapping, as browsers and mail providers do:
``jean@xn--exmple-cua.be``); every server and provider takes that form. Python's own "idna"
codec is IDNA 2003, which turns ``faß.de`` into another domain (``fass.de``): the `idna`
package is used instead, for the envelope and the headers alike, so that both always name
the same domain.

A local part with accents (``josé@…``) cannot be written in ASCII: only a server that offers
SMTPUTF8 (RFC 6531) can take it, so the transport decides, per recipient.
"""

from __future__ import annotations

import functools

import idna


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
