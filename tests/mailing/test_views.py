"""Ma fiche, the message page and its .eml, the outbox, the templates pages, and who may do what."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from django.db import connection
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.mailing import services
from courrier.mailing.models import (
    MailTemplate,
    MailTemplateVersion,
    OutboundMessage,
    ProfileTest,
    SendingProfile,
)
from courrier.mailing.services import Draft, message_bytes
from tests.fakes.smtp import FakeSMTPServer

MY_PROFILE = reverse("mailing:my_profile")
HTMX = {"HX-Request": "true"}
STORED_PASSWORD = "Tr0ub4dor&3-stored"


def make_collaborator(email: str, **extra: Any) -> Collaborator:
    return Collaborator.objects.create_user(email, "login-pw-1234", **extra)


def make_profile(collaborator: Collaborator, **extra: Any) -> SendingProfile:
    fields: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": 2525,
        "smtp_security": SendingProfile.Security.NONE,
        "smtp_username": collaborator.email,
        "smtp_password": STORED_PASSWORD,
        "from_name": str(collaborator),
        "from_address": collaborator.email,
    }
    fields.update(extra)
    return SendingProfile.objects.create(collaborator=collaborator, **fields)


def make_client(number: str = "C0042", **extra: Any) -> Client:
    fields: dict[str, Any] = {"name": "Boulangerie Dupont", "legal_form": "SRL", "language": "fr"}
    fields.update(extra)
    client = Client.objects.create(number=number, **fields)
    ClientEmail.objects.create(client=client, address="marie@dupont.be")
    return client


def login(collaborator: Collaborator) -> Browser:
    browser = Browser()
    browser.force_login(collaborator)
    return browser


def text_of(response: Any) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def profile_post(profile: SendingProfile, **changes: str) -> dict[str, str]:
    data = {
        "save_profile": "1",
        "profile-method": "smtp",
        "profile-smtp_host": profile.smtp_host,
        "profile-smtp_port": str(profile.smtp_port),
        "profile-smtp_security": profile.smtp_security,
        "profile-smtp_username": profile.smtp_username,
        "profile-password": "",
        "profile-from_name": profile.from_name,
        "profile-from_address": profile.from_address,
        "profile-reply_to": profile.reply_to,
    }
    data.update({f"profile-{key}": value for key, value in changes.items()})
    return data


@pytest.fixture
def anne(db: None) -> Collaborator:
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Martin"})
    return make_collaborator("anne@fidu.be", first_name="Anne", last_name="Martin")


@pytest.fixture
def luc(db: None) -> Collaborator:
    return make_collaborator("luc@fidu.be", first_name="Luc", last_name="Peeters")


@pytest.fixture
def boss(db: None) -> Collaborator:
    return make_collaborator(
        "chef@fidu.be", first_name="Claire", last_name="Chef", role=Collaborator.Role.ADMIN
    )


@pytest.fixture
def queued(anne: Collaborator) -> OutboundMessage:
    make_profile(anne)
    return services.message_compose(
        sender=anne,
        client=make_client(),
        draft=Draft(
            subject="Votre bilan 2026 – {NOMCLIENT}",
            body="Bonjour,\n\nVoici le bilan de {NOMCLIENT}.",
        ),
    )


# --- Ma fiche -------------------------------------------------------------------------------


def test_ma_fiche_never_shows_the_stored_password(anne: Collaborator) -> None:
    profile = make_profile(anne)
    stored = SendingProfile.objects.filter(pk=profile.pk).values_list("smtp_password", flat=True)

    response = login(anne).get(MY_PROFILE)

    assert response.status_code == 200
    html = response.content.decode()
    assert STORED_PASSWORD not in html
    assert "fernet:" not in html
    assert re.search(r'<input type="password" name="profile-password"[^>]*>', html)
    assert not re.search(r'name="profile-password"[^>]*value="[^"]', html)
    assert "enregistré — laisser vide pour le conserver" in text_of(response)
    assert list(stored) == [STORED_PASSWORD]


def test_saving_with_an_empty_password_keeps_the_stored_one(anne: Collaborator) -> None:
    profile = make_profile(anne)

    response = login(anne).post(MY_PROFILE, profile_post(profile, smtp_host="smtp.fidu.be"))

    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.smtp_host == "smtp.fidu.be"
    assert profile.smtp_password == STORED_PASSWORD


def test_a_new_password_replaces_the_old_one_and_the_box_clears_it(anne: Collaborator) -> None:
    profile = make_profile(anne)
    browser = login(anne)

    browser.post(MY_PROFILE, profile_post(profile, password="n0uveau-Mot"))
    profile.refresh_from_db()
    assert profile.smtp_password == "n0uveau-Mot"

    browser.post(MY_PROFILE, profile_post(profile, clear_password="on"))
    profile.refresh_from_db()
    assert profile.smtp_password == ""


def test_a_first_profile_is_created_from_ma_fiche(anne: Collaborator) -> None:
    response = login(anne).post(
        MY_PROFILE,
        {
            "save_profile": "1",
            "profile-method": "smtp",
            "profile-smtp_host": "smtp.fidu.be",
            "profile-smtp_port": "587",
            "profile-smtp_security": "starttls",
            "profile-smtp_username": "anne@fidu.be",
            "profile-password": "premier-Mot",
            "profile-from_name": "Anne Martin",
            "profile-from_address": "anne@fidu.be",
            "profile-reply_to": "",
        },
    )

    assert response.status_code == 302
    profile = SendingProfile.objects.get(collaborator=anne)
    assert profile.smtp_password == "premier-Mot"
    assert profile.smtp_port == 587


def test_bad_profile_input_is_shown_on_the_form_and_nothing_is_saved(anne: Collaborator) -> None:
    profile = make_profile(anne)

    response = login(anne).post(
        MY_PROFILE, profile_post(profile, smtp_port="70000", from_name="Anne\r\nBcc: x@evil.test")
    )

    assert response.status_code == 200
    page = text_of(response)
    assert "65535" in page
    assert "retour à la ligne" in page
    profile.refresh_from_db()
    assert profile.smtp_port == 2525


def test_saving_a_fixed_profile_resumes_held_messages(anne: Collaborator) -> None:
    profile = make_profile(anne)
    message = services.message_compose(
        sender=anne,
        client=make_client(),
        draft=Draft(subject="Bonjour", body="Bonjour {NOMCLIENT}"),
    )
    OutboundMessage.objects.filter(pk=message.pk).update(status=OutboundMessage.Status.HELD)
    SendingProfile.objects.filter(pk=profile.pk).update(
        state=SendingProfile.State.BROKEN, state_reason="Mot de passe refusé."
    )
    browser = login(anne)
    assert "Mot de passe refusé." in text_of(browser.get(MY_PROFILE))

    response = browser.post(MY_PROFILE, profile_post(profile, password="corrige-Mot"), follow=True)

    message.refresh_from_db()
    assert message.status == OutboundMessage.Status.QUEUED
    profile.refresh_from_db()
    assert profile.state == SendingProfile.State.OK
    assert "1 message en attente repart" in text_of(response)


def test_the_details_form_saves_name_language_and_signatures(anne: Collaborator) -> None:
    response = login(anne).post(
        MY_PROFILE,
        {
            "save_details": "1",
            "me-first_name": "Anne",
            "me-last_name": "Martin-Dubois",
            "me-phone": "+32 2 765 43 22",
            "me-language": "nl",
            "me-signature_fr": "Anne Martin-Dubois\nExpert-comptable",
            "me-signature_nl": "Anne Martin-Dubois\nAccountant",
            "me-signature_de": "",
            "me-signature_en": "",
        },
    )

    assert response.status_code == 302
    anne.refresh_from_db()
    assert anne.last_name == "Martin-Dubois"
    assert anne.language == "nl"
    # Plain text (the page without its editor): stored as the editor writes it, lines kept.
    assert anne.signature_fr == "<p>Anne Martin-Dubois<br>Expert-comptable</p>"
    assert anne.signature_nl == "<p>Anne Martin-Dubois<br>Accountant</p>"
    assert anne.signature_languages == ["fr", "nl"]


def test_only_an_admin_opens_another_collaborators_fiche(
    anne: Collaborator, luc: Collaborator, boss: Collaborator
) -> None:
    make_profile(luc)
    url = f"{MY_PROFILE}?collaborator={luc.pk}"

    assert login(anne).get(url).status_code == 403
    response = login(boss).get(url)
    assert response.status_code == 200
    assert "luc@fidu.be" in text_of(response)
    assert STORED_PASSWORD not in response.content.decode()
    assert login(boss).get(f"{MY_PROFILE}?collaborator=abc").status_code == 404
    assert login(boss).get(f"{MY_PROFILE}?collaborator=999999").status_code == 404


def test_an_admin_fixes_another_collaborators_profile(
    luc: Collaborator, boss: Collaborator
) -> None:
    profile = make_profile(luc)

    response = login(boss).post(
        MY_PROFILE, {**profile_post(profile, smtp_host="mail.fidu.be"), "collaborator": luc.pk}
    )

    assert response.status_code == 302
    assert response["Location"].endswith(f"?collaborator={luc.pk}")
    profile.refresh_from_db()
    assert profile.smtp_host == "mail.fidu.be"
    assert profile.smtp_password == STORED_PASSWORD


def test_a_password_no_key_can_read_still_opens_and_can_be_replaced(anne: Collaborator) -> None:
    profile = make_profile(anne)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE mailing_sendingprofile SET smtp_password = %s WHERE id = %s",
            ["fernet:written-with-a-lost-key", profile.pk],
        )
    browser = login(anne)

    assert browser.get(MY_PROFILE).status_code == 200
    test = browser.post(reverse("mailing:profile_test"), headers=HTMX)
    assert test.status_code == 200
    assert "ne peut plus être lu" in text_of(test)

    browser.post(MY_PROFILE, profile_post(profile, password="saisi-a-nouveau"))
    profile.refresh_from_db()
    assert profile.smtp_password == "saisi-a-nouveau"


# --- The test button ------------------------------------------------------------------------


def test_the_test_button_shows_the_servers_answer(
    anne: Collaborator, make_smtp_server: Callable[..., FakeSMTPServer], settings: Any
) -> None:
    server = make_smtp_server(auth=("anne@fidu.be", "bon-Mot-de-passe"))
    # A collaborator tests mail ports only, unless the installation adds its own.
    settings.COURRIER = {**settings.COURRIER, "TEST_PORTS": [server.port]}
    profile = make_profile(
        anne,
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_username="anne@fidu.be",
        smtp_password="bon-Mot-de-passe",
    )

    response = login(anne).post(reverse("mailing:profile_test"), headers=HTMX)

    assert response.status_code == 200
    page = text_of(response)
    assert "Message de test envoyé à anne@fidu.be" in page
    assert "Réponse du serveur" in page and "250" in page
    assert ProfileTest.objects.get(profile=profile).success is True
    [received] = server.messages
    assert received.rcpt_tos == ["anne@fidu.be"]
    assert "bon-Mot-de-passe" not in response.content.decode()
    # The test is listed on Ma fiche afterwards.
    assert "réussi" in text_of(login(anne).get(MY_PROFILE))


def test_a_wrong_password_is_explained(
    anne: Collaborator, make_smtp_server: Callable[..., FakeSMTPServer], settings: Any
) -> None:
    server = make_smtp_server(auth=("anne@fidu.be", "bon-Mot-de-passe"))
    # A collaborator tests mail ports only, unless the installation adds its own.
    settings.COURRIER = {**settings.COURRIER, "TEST_PORTS": [server.port]}
    profile = make_profile(
        anne,
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_username="anne@fidu.be",
        smtp_password="pas-le-bon",
    )

    response = login(anne).post(reverse("mailing:profile_test"), headers=HTMX)

    assert response.status_code == 200
    page = text_of(response)
    assert "Le test a échoué" in page
    assert "535" in page
    assert ProfileTest.objects.get(profile=profile).success is False
    assert server.messages == []
    assert "pas-le-bon" not in response.content.decode()


def test_the_test_button_works_without_javascript(
    anne: Collaborator, smtp_server: FakeSMTPServer, settings: Any
) -> None:
    settings.COURRIER = {**settings.COURRIER, "TEST_PORTS": [smtp_server.port]}
    make_profile(anne, smtp_host=smtp_server.host, smtp_port=smtp_server.port, smtp_username="")

    response = login(anne).post(reverse("mailing:profile_test"), follow=True)

    assert response.status_code == 200
    assert "Le serveur a accepté le message de test" in text_of(response)
    assert len(smtp_server.messages) == 1


def test_testing_without_a_profile_says_what_to_do(anne: Collaborator) -> None:
    response = login(anne).post(reverse("mailing:profile_test"), headers=HTMX)

    assert response.status_code == 200
    assert "Enregistrez d'abord le paramétrage" in text_of(response)


# --- Message page, .eml, cancel / retry ------------------------------------------------------


def test_the_message_page_shows_headers_parts_and_state(
    queued: OutboundMessage, luc: Collaborator
) -> None:
    response = login(luc).get(reverse("mailing:message_detail", args=[queued.pk]))

    assert response.status_code == 200
    page = text_of(response)
    assert "Message-ID" in page and queued.message_id.strip("<>") in page
    assert "Subject" in page and "Votre bilan 2026 – Boulangerie Dupont SRL" in page
    assert "marie@dupont.be" in page
    assert "Voici le bilan de Boulangerie Dupont SRL." in page
    assert "en file d'attente" in page
    assert "Télécharger le .eml" in page
    assert re.search(r'<iframe[^>]*sandbox=""', response.content.decode())
    # Luc may read it (a firm shares its client files) but not cancel it.
    assert reverse("mailing:message_cancel", args=[queued.pk]) not in response.content.decode()


def test_the_eml_is_exactly_the_stored_bytes(queued: OutboundMessage, luc: Collaborator) -> None:
    response = login(luc).get(reverse("mailing:message_eml", args=[queued.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "message/rfc822"
    assert response.content == message_bytes(OutboundMessage.objects.get(pk=queued.pk))
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert re.search(r'filename="\d{4}-\d{2}-\d{2}_\d{4}-votre-bilan-2026-boulangerie', disposition)


def test_a_collaborator_cannot_cancel_anothers_message(
    queued: OutboundMessage, luc: Collaborator
) -> None:
    response = login(luc).post(reverse("mailing:message_cancel", args=[queued.pk]))

    assert response.status_code == 403
    queued.refresh_from_db()
    assert queued.status == OutboundMessage.Status.QUEUED
    assert login(luc).post(reverse("mailing:message_retry", args=[queued.pk])).status_code == 403


def test_the_sender_cancels_their_message(queued: OutboundMessage, anne: Collaborator) -> None:
    browser = login(anne)
    assert (
        reverse("mailing:message_cancel", args=[queued.pk])
        in browser.get(reverse("mailing:message_detail", args=[queued.pk])).content.decode()
    )

    response = browser.post(reverse("mailing:message_cancel", args=[queued.pk]), follow=True)

    queued.refresh_from_db()
    assert queued.status == OutboundMessage.Status.CANCELLED
    assert "annulé" in text_of(response)


def test_an_admin_retries_an_uncertain_message(queued: OutboundMessage, boss: Collaborator) -> None:
    OutboundMessage.objects.filter(pk=queued.pk).update(status=OutboundMessage.Status.UNCERTAIN)

    response = login(boss).post(reverse("mailing:message_retry", args=[queued.pk]))

    assert response.status_code == 302
    queued.refresh_from_db()
    assert queued.status == OutboundMessage.Status.QUEUED


def test_retrying_a_message_that_cannot_be_retried_is_a_message_not_a_500(
    queued: OutboundMessage, anne: Collaborator
) -> None:
    response = login(anne).post(reverse("mailing:message_retry", args=[queued.pk]), follow=True)

    assert response.status_code == 200
    queued.refresh_from_db()
    assert queued.status == OutboundMessage.Status.QUEUED


@pytest.mark.parametrize(
    "name", ["mailing:message_detail", "mailing:message_eml", "mailing:template_edit"]
)
@pytest.mark.parametrize("pk", [0, 999999, 10**30])
def test_unknown_ids_are_404(anne: Collaborator, name: str, pk: int) -> None:
    assert login(anne).get(reverse(name, args=[pk])).status_code == 404


@pytest.mark.parametrize("name", ["mailing:message_cancel", "mailing:message_retry"])
def test_unknown_ids_on_actions_are_404(anne: Collaborator, name: str) -> None:
    assert login(anne).post(reverse(name, args=[999999])).status_code == 404


def test_garbage_in_paths_is_404(anne: Collaborator) -> None:
    browser = login(anne)
    for path in ("/courrier/messages/abc/", "/courrier/messages/-1/eml/", "/courrier/modeles/x/"):
        assert browser.get(path).status_code == 404


# --- Outbox ---------------------------------------------------------------------------------


def test_the_outbox_lists_the_users_waiting_messages(
    queued: OutboundMessage, anne: Collaborator, luc: Collaborator, boss: Collaborator
) -> None:
    url = reverse("mailing:outbox")

    mine = login(anne).get(url)
    assert "Votre bilan 2026 – Boulangerie Dupont SRL" in text_of(mine)
    assert 'hx-trigger="every 5s"' in mine.content.decode()
    assert "Votre bilan 2026" not in text_of(login(luc).get(url))
    assert "Votre bilan 2026" in text_of(login(boss).get(url))

    polled = login(anne).get(url, {"status": "queued"}, headers=HTMX)
    assert "<html" not in polled.content.decode()
    assert "Votre bilan 2026" in text_of(polled)
    assert "Votre bilan 2026" not in text_of(login(anne).get(url, {"status": "held"}))
    assert login(anne).get(url, {"status": "nonsense"}).status_code == 200


def test_a_held_message_says_why_and_links_to_the_fix(
    queued: OutboundMessage, anne: Collaborator
) -> None:
    OutboundMessage.objects.filter(pk=queued.pk).update(status=OutboundMessage.Status.HELD)
    SendingProfile.objects.filter(pk=queued.profile_id).update(
        state=SendingProfile.State.BROKEN, state_reason="Le serveur refuse le mot de passe."
    )

    response = login(anne).get(reverse("mailing:outbox"))

    assert "Le serveur refuse le mot de passe." in text_of(response)
    assert f'href="{MY_PROFILE}#sending-profile"' in response.content.decode()


def test_a_message_held_by_a_companys_profile_links_admins_to_the_company_page(
    anne: Collaborator, boss: Collaborator
) -> None:
    company = BillingCompany.objects.create(
        code="FIDU", name="Fiduciaire Martin", enterprise_number="0403.170.701"
    )
    SendingProfile.objects.create(
        billing_company=company,
        smtp_host="127.0.0.1",
        smtp_port=2525,
        from_address="factures@fidu.be",
    )
    message = services.message_compose(
        sender=anne,
        client=make_client(),
        billing_company=company,
        draft=Draft(subject="Votre facture", body="Bonjour"),
    )
    OutboundMessage.objects.filter(pk=message.pk).update(status=OutboundMessage.Status.HELD)
    SendingProfile.objects.filter(billing_company=company).update(
        state=SendingProfile.State.RECONNECT, state_reason="Microsoft a retiré l'accès."
    )
    company_page = reverse("mailing:company_profile", args=[company.pk])

    for_boss = login(boss).get(reverse("mailing:outbox"))
    assert "en attente : Microsoft a retiré l'accès." in text_of(for_boss)
    assert f'href="{company_page}#sending-profile"' in for_boss.content.decode()
    assert "Reconnecter la boîte" in text_of(for_boss)

    for_anne = login(anne).get(reverse("mailing:outbox"))
    assert "en attente : Microsoft a retiré l'accès." in text_of(for_anne)
    assert company_page not in for_anne.content.decode()
    assert "un administrateur doit corriger le paramétrage de Fiduciaire Martin" in text_of(
        for_anne
    )

    detail = login(boss).get(reverse("mailing:message_detail", args=[message.pk]))
    assert "en attente : Microsoft a retiré l'accès." in text_of(detail)
    assert f'href="{company_page}#sending-profile"' in detail.content.decode()


def test_the_mails_tab_shows_what_the_provider_reported(
    queued: OutboundMessage, anne: Collaborator
) -> None:
    OutboundMessage.objects.filter(pk=queued.pk).update(
        status=OutboundMessage.Status.SENT,
        delivery_status="delivered",
        delivery_detail="250 OK",
    )
    assert queued.client is not None

    page = text_of(login(anne).get(reverse("clients:mails", args=[queued.client.pk])))

    assert "envoyé" in page and "remis" in page


def test_settled_messages_leave_the_outbox(queued: OutboundMessage, anne: Collaborator) -> None:
    OutboundMessage.objects.filter(pk=queued.pk).update(status=OutboundMessage.Status.SENT)

    assert "Votre bilan 2026" not in text_of(login(anne).get(reverse("mailing:outbox")))


# --- Templates ------------------------------------------------------------------------------


def template_post(**values: str) -> dict[str, str]:
    data = {"name": "Relance", "context": "client"}
    for code in ("fr", "nl", "de", "en"):
        data[f"subject_{code}"] = ""
        data[f"body_{code}"] = ""
    data.update(values)
    return data


def test_a_collaborator_creates_a_personal_template(anne: Collaborator) -> None:
    response = login(anne).post(
        reverse("mailing:template_create"),
        template_post(
            subject_fr="Relance {NOMCLIENT}",
            body_fr="Bonjour,\nPetit rappel.",
            subject_nl="Herinnering {NOMCLIENT}",
            body_nl="Goedendag,\nEen herinnering.",
            firm_template="on",  # ignored: not an admin
        ),
    )

    assert response.status_code == 302
    template = MailTemplate.objects.get()
    assert template.owner == anne
    assert sorted(v.language for v in template.versions.all()) == ["fr", "nl"]
    listing = login(anne).get(reverse("mailing:templates"))
    page = text_of(listing)
    assert "Relance" in page
    assert "pas de version en allemand" in listing.content.decode()


def test_an_unknown_field_in_a_template_names_the_nearest_one(anne: Collaborator) -> None:
    response = login(anne).post(
        reverse("mailing:template_create"),
        template_post(subject_nl="Herinnering {NOMCLIEN}", body_nl="Goedendag"),
    )

    assert response.status_code == 200
    page = text_of(response)
    assert "{NOMCLIEN}" in page and "{NOMCLIENT}" in page
    assert MailTemplate.objects.count() == 0


def test_a_template_needs_one_language(anne: Collaborator) -> None:
    response = login(anne).post(reverse("mailing:template_create"), template_post())

    assert response.status_code == 200
    assert "au moins une langue" in text_of(response)


def test_firm_templates_are_edited_by_admins_only(anne: Collaborator, boss: Collaborator) -> None:
    firm_template = MailTemplate.objects.create(name="Bienvenue", owner=None)
    MailTemplateVersion.objects.create(
        template=firm_template, language="fr", subject="Bienvenue", body="Bonjour"
    )
    url = reverse("mailing:template_edit", args=[firm_template.pk])

    assert login(anne).get(url).status_code == 403
    assert login(anne).post(url, template_post(subject_fr="X", body_fr="Y")).status_code == 403
    response = login(boss).post(
        url,
        template_post(
            name="Bienvenue au cabinet",
            firm_template="on",
            subject_fr="Bienvenue",
            body_fr="Bonjour",
            subject_de="Willkommen",
            body_de="Guten Tag",
        ),
    )
    assert response.status_code == 302
    firm_template.refresh_from_db()
    assert firm_template.name == "Bienvenue au cabinet"
    assert firm_template.owner is None
    assert sorted(v.language for v in firm_template.versions.all()) == ["de", "fr"]


def test_a_collaborator_cannot_see_nor_edit_anothers_private_template(
    anne: Collaborator, luc: Collaborator
) -> None:
    private = MailTemplate.objects.create(name="Brouillon de Luc", owner=luc)

    assert "Brouillon de Luc" not in text_of(login(anne).get(reverse("mailing:templates")))
    assert login(anne).get(reverse("mailing:template_edit", args=[private.pk])).status_code == 404


def test_emptying_a_language_removes_that_version(anne: Collaborator) -> None:
    template = MailTemplate.objects.create(name="Relance", owner=anne)
    for code in ("fr", "nl"):
        MailTemplateVersion.objects.create(template=template, language=code, subject="S", body="B")

    login(anne).post(
        reverse("mailing:template_edit", args=[template.pk]),
        template_post(subject_fr="S", body_fr="B"),
    )

    assert [v.language for v in template.versions.all()] == ["fr"]


def test_every_mailing_page_needs_a_login(db: None) -> None:
    browser = Browser()
    for name in ("mailing:my_profile", "mailing:outbox", "mailing:templates"):
        response = browser.get(reverse(name))
        assert response.status_code == 302
        assert reverse("login") in response["Location"]
