"""What a failed TLS connection means, in words a collaborator can act on.

OpenSSL says why it refused a server's certificate (`verify_code`); each reason calls for a
different fix: a self-signed certificate or one from an unknown authority (the server's
administrator, or another server name), a certificate made for another name (the server's
name as the provider gives it), an expired one (the server's administrator). A handshake that
fails before any certificate, with a plain-text answer where TLS was expected, is a mismatch
between the port and the security chosen. SMTP, IMAP and the connection test share these
sentences.
"""

from __future__ import annotations

import ssl

from courrier.texts import Sentence
from courrier.texts import sentence as _

# OpenSSL's X509_V_ERR_* codes (x509_vfy.h), as ssl.SSLCertVerificationError.verify_code.
UNTRUSTED = frozenset(
    {
        2,  # unable to get issuer certificate
        18,  # self-signed certificate
        19,  # self-signed certificate in certificate chain
        20,  # unable to get local issuer certificate
        21,  # unable to verify the first certificate
        24,  # invalid CA certificate
        27,  # certificate not trusted
    }
)
EXPIRED = 10
NOT_YET_VALID = 9
NAME_MISMATCH = frozenset({62, 64})  # host name, IP address

# OpenSSL's reasons when the other side does not speak TLS at all (a plain-text greeting read as
# a TLS record) or stops at once.
NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"}
)


def certificate_problem(exc: ssl.SSLCertVerificationError, *, host: str) -> Sentence:
    """Why the server's certificate was refused, and what to do about it."""
    code = exc.verify_code
    if code in UNTRUSTED:
        return _(
            "Le certificat du serveur %(host)s n'est pas signé par une autorité reconnue "
            "(certificat auto-signé ou d'une autorité privée) : rien ne garantit que la "
            "connexion aboutit bien à ce serveur, elle est donc refusée. Utilisez le nom de "
            "serveur que donne votre fournisseur, ou demandez à l'administrateur du serveur "
            "d'installer un certificat d'une autorité reconnue."
        ) % {"host": host}
    if code == EXPIRED:
        return _(
            "Le certificat du serveur %(host)s a expiré : la connexion est refusée tant que "
            "l'administrateur du serveur ne l'a pas renouvelé."
        ) % {"host": host}
    if code == NOT_YET_VALID:
        return _(
            "Le certificat du serveur %(host)s n'est pas encore valable : vérifiez la date et "
            "l'heure de l'ordinateur qui envoie, ou demandez à l'administrateur du serveur de "
            "vérifier son certificat."
        ) % {"host": host}
    if code in NAME_MISMATCH:
        return _(
            "Le certificat du serveur %(host)s a été délivré pour un autre nom : vérifiez le nom "
            "du serveur, qui doit être exactement celui que donne votre fournisseur (souvent pas "
            "celui de votre domaine)."
        ) % {"host": host}
    return _(
        "Le certificat du serveur %(host)s n'a pas pu être vérifié : la connexion est refusée."
    ) % {"host": host}


def not_tls(exc: ssl.SSLError) -> bool:
    """Whether the handshake failed because the other side does not speak TLS on that port."""
    reason = str(getattr(exc, "reason", "") or "")
    return reason in NOT_TLS_REASONS or isinstance(exc, ssl.SSLEOFError)
