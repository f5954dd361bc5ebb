"""The IMAP client of a profile's mailbox: the connection test and the folder names, against
the fake IMAP server on 127.0.0.1 and against Debian's Dovecot when it is installed. The copy
it makes of each sent mail is tested in `tests/mailing/test_sent_copy.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from courrier.mailing.models import SendingProfile
from courrier.mailing.transports.imap import imap_verify, mailbox_decode, mailbox_encode
from tests.fakes.imap import FOLDERS, FakeIMAPServer, IMAPAccount, account_of
from tests.fakes.smtp import SilentServer, TestCA

# -- the connection test ----------------------------------------------------------------------


def test_verify_names_the_folder_copies_will_go_to(
    account: IMAPAccount, make_imap_profile: Callable[..., SendingProfile]
) -> None:
    ok, answer = imap_verify(make_imap_profile(account))
    assert ok, answer
    assert str(answer) == (
        "Connexion IMAP réussie : une copie de chaque message envoyé sera déposée dans "
        "« Sent Items »."
    )

    ok, answer = imap_verify(make_imap_profile(account, imap_sent_folder="Envoyés"))
    assert ok
    assert "« Envoyés » n'existe pas" in answer
    assert "« Sent Items »" in answer and "« Éléments envoyés »" in answer


def test_verify_wrong_password(
    account: IMAPAccount, make_imap_profile: Callable[..., SendingProfile]
) -> None:
    ok, answer = imap_verify(make_imap_profile(account, imap_password="faux"))
    assert not ok
    assert "a refusé l'identifiant ou le mot de passe" in answer
    assert "AUTHENTICATIONFAILED" in answer  # the server's own answer, under the sentence
    assert "faux" not in answer


def test_verify_missing_folder_lists_the_folders_found(
    make_imap_profile: Callable[..., SendingProfile],
) -> None:
    with FakeIMAPServer(folders={"INBOX": "", "Envoyés": ""}, special_use=False) as server:
        ok, answer = imap_verify(make_imap_profile(account_of(server), imap_sent_folder="Sent"))
    assert not ok
    assert "Le dossier « Sent » n'existe pas" in answer
    assert "Dossiers trouvés : « INBOX », « Envoyés »" in answer


def test_verify_tls_over_starttls_and_ssl(
    test_ca: TestCA, make_imap_profile: Callable[..., SendingProfile]
) -> None:
    tls_modes: list[dict[str, Any]] = [{"starttls": True}, {"implicit_tls": True}]
    for options in tls_modes:
        with FakeIMAPServer(folders=dict(FOLDERS), tls=test_ca, **options) as server:
            profile = make_imap_profile(account_of(server))
            ok, answer = imap_verify(profile, ssl_context=test_ca.client_context())
            assert ok, answer
            # Without the test CA the certificate is not trusted: said plainly.
            ok, answer = imap_verify(profile)
            assert not ok
            assert "n'est pas signé par une autorité reconnue" in str(answer)


def test_verify_tls_mismatches_are_explained(
    test_ca: TestCA,
    fake_imap: FakeIMAPServer,
    make_imap_profile: Callable[..., SendingProfile],
    settings: Any,
) -> None:
    # SSL/TLS chosen, the port speaks plain IMAP.
    profile = make_imap_profile(account_of(fake_imap), imap_security="ssl")
    ok, answer = imap_verify(profile, ssl_context=test_ca.client_context())
    assert not ok
    assert "La connexion SSL/TLS au port" in answer

    # STARTTLS chosen, the server does not offer it.
    profile = make_imap_profile(account_of(fake_imap), imap_security="starttls")
    ok, answer = imap_verify(profile, ssl_context=test_ca.client_context())
    assert not ok
    assert "ne propose pas STARTTLS" in answer

    # No TLS chosen, the port waits for a TLS handshake and says nothing.
    settings.COURRIER = {**settings.COURRIER, "IMAP_TIMEOUT": 0.5}
    silent = SilentServer()
    try:
        profile = make_imap_profile(
            account_of(fake_imap), imap_port=silent.port, imap_security="none"
        )
        ok, answer = imap_verify(profile)
    finally:
        silent.close()
    assert not ok
    assert "ne répond pas sur le port" in answer


def test_verify_without_server_or_password(
    make_imap_profile: Callable[..., SendingProfile],
) -> None:
    ok, answer = imap_verify(make_imap_profile(imap_host=""))
    assert not ok
    assert "Aucun serveur IMAP" in answer

    ok, answer = imap_verify(
        make_imap_profile(imap_host="127.0.0.1", imap_username="anne@fidu.test", imap_password="")
    )
    assert not ok
    assert "mot de passe IMAP n'est pas renseigné" in answer


def test_folder_names_use_imaps_modified_utf7() -> None:
    assert mailbox_encode("Éléments envoyés") == "&AMk-l&AOk-ments envoy&AOk-s"
    assert mailbox_encode("R&D") == "R&-D"
    assert mailbox_encode("Sent Items") == "Sent Items"
    for name in ("Éléments envoyés", "R&D", "Verzonden items", "日本語", "Gesendete Objekte"):
        assert mailbox_decode(mailbox_encode(name)) == name
