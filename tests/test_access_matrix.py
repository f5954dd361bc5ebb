"""Who may open every address of the application: every URL pattern of the project, found by
walking Django's resolver, has its line in `ACCESS` (a decision: public, any collaborator,
administrators only, the object's owner, the invoices' role), and is requested as each role.

A new address without a line fails `test_every_address_has_a_decision`: add it to `ACCESS`
(and, when it takes arguments, say which object in `ARGS`).

Roles: anonymous; anne, a collaborator who owns the objects asked for (her mail not archived,
her batch, her template, her link...); bob, a colleague; carla, a colleague with the role
Facturation; luc, an administrator of the firm (not a staff account of the technical
administration); and staff, a superuser of the technical administration. An address that only
takes POST is asked with GET by every role, then with POST by those it must refuse (nothing is
done for them, so nothing changes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as Browser
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from courrier.clients.models import ClientSelection, Tag
from courrier.documents.models import Document
from courrier.firm.models import Collaborator
from courrier.firm.permissions import billing_grant
from courrier.mailing.links import link_create
from courrier.mailing.models import (
    MailBatch,
    MailTemplate,
    OutboundMessage,
    Phrase,
    SendingProfile,
    Upload,
)
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "anne", "bob", "carla", "luc", "staff")

# What each role gets: "ok" (the page or action: anything but a refusal, a 404 or an error),
# "login" (sent to the login page), "403", "404", "admin-login" (the technical
# administration's login page).
LOGIN = dict.fromkeys(ROLES, "ok") | {"anonymous": "login"}
PUBLIC = dict.fromkeys(ROLES, "public")
# The firm's administrators: luc by his role, and a superuser.
ADMINS = {"luc": "ok", "staff": "ok"}
ADMIN = dict.fromkeys(ROLES, "403") | {"anonymous": "login"} | ADMINS
# The object is anne's: a colleague is told it does not exist.
OWNER = dict.fromkeys(ROLES, "404") | {"anonymous": "login", "anne": "ok"} | ADMINS
# The object is anne's and every colleague sees it, but only she or an administrator acts.
OWNER_ACTS = dict.fromkeys(ROLES, "403") | {"anonymous": "login", "anne": "ok"} | ADMINS
BILLING = dict.fromkeys(ROLES, "403") | {"anonymous": "login", "carla": "ok"} | ADMINS
# The technical administration: staff accounts, then each one's model permissions (a read-only
# list refuses "add" even to a superuser: "admitted" is anything but a login page or an error).
STAFF = dict.fromkeys(ROLES, "admin-login") | {"anonymous": "login", "staff": "admitted"}

# url name (or route, for a pattern without a name) -> who gets what.
ACCESS: dict[str, dict[str, str]] = {
    # The project
    "/": LOGIN,
    "/favicon.ico": PUBLIC,
    "login": PUBLIC,
    "logout": LOGIN,
    "set_language": PUBLIC,
    "production:health": PUBLIC,
    # Passwords: a collaborator changes their own; a forgotten one is reset by mail.
    "password_change": LOGIN,
    "password_change_done": LOGIN,
    "password_reset": PUBLIC,
    "password_reset_done": PUBLIC,
    "password_reset_confirm": PUBLIC,
    "password_reset_complete": PUBLIC,
    # Clients: the firm shares its client files.
    "clients:list": LOGIN,
    "clients:create": LOGIN,
    "clients:detail": LOGIN,
    "clients:edit": LOGIN,
    "clients:mails": LOGIN,
    "clients:peppol_lookup": LOGIN,
    "clients:tags": LOGIN,
    "clients:tag_edit": ADMIN,
    "clients:tag_delete": ADMIN,
    "clients:selection": LOGIN,
    "clients:selection_save": LOGIN,
    "clients:selections": LOGIN,
    "clients:selection_delete": OWNER,
    "clients:selection_share": OWNER,
    # Mailing
    "mailing:my_profile": LOGIN,
    "mailing:profile_test": LOGIN,
    "mailing:compose": LOGIN,
    "mailing:preview": LOGIN,
    "mailing:template_load": LOGIN,
    "mailing:presend": LOGIN,
    "mailing:upload": LOGIN,
    "mailing:template_save_from_compose": LOGIN,
    "mailing:batch_progress": OWNER,
    "mailing:message_detail": OWNER,
    "mailing:message_eml": OWNER,
    "mailing:message_attachment": OWNER,
    "mailing:message_cancel": OWNER,
    "mailing:message_retry": OWNER,
    "mailing:message_resend": OWNER,
    "mailing:outbox": LOGIN,
    # A mail's HTML for a frame: a key only the session whose page made it can open (any
    # other session, anonymous or not, is told it does not exist).
    "mailing:mail_frame": PUBLIC,
    "mailing:undelivered": LOGIN,
    "mailing:company_profile": ADMIN,
    "mailing:company_peppol": ADMIN,
    "mailing:company_peppol_test": ADMIN,
    "mailing:templates": LOGIN,
    "mailing:template_create": LOGIN,
    "mailing:template_fields": LOGIN,
    "mailing:template_edit": OWNER,
    "mailing:oauth_connect": OWNER_ACTS,
    "mailing:oauth_disconnect": OWNER_ACTS,
    "mailing:oauth_callback_google": LOGIN,
    "mailing:oauth_callback_microsoft": LOGIN,
    "mailing:webhook": PUBLIC,
    "mailing:phrases": LOGIN,
    "mailing:phrase_create": LOGIN,
    "mailing:phrase_edit": OWNER,
    "mailing:phrase_delete": OWNER,
    "mailing:phrase_text": LOGIN,
    "mailing:phrase_picker": LOGIN,
    # The firm's settings
    "firm:settings": ADMIN,
    "firm:companies": ADMIN,
    "firm:company_create": ADMIN,
    "firm:company_edit": ADMIN,
    "firm:collaborators": ADMIN,
    "firm:collaborator_edit": ADMIN,
    "firm:collaborator_password": ADMIN,
    "firm:collaborator_unlock": ADMIN,
    "firm:audit": ADMIN,
    # A client's data, exported or erased on request: administrators.
    "privacy:client_export": ADMIN,
    "privacy:client_erase": ADMIN,
    # Invoices: every collaborator reads and drafts; the role Facturation issues, deletes a
    # draft and sends.
    "billing:home": LOGIN,
    "billing:invoice": LOGIN,
    "billing:invoice_edit": LOGIN,
    "billing:invoice_issue": BILLING,
    "billing:invoice_delete": BILLING,
    "billing:invoice_pdf": LOGIN,
    "billing:invoice_ubl": LOGIN,
    "billing:invoice_resend": BILLING,
    "billing:credit_note_create": LOGIN,
    "billing:client_invoices": LOGIN,
    "billing:invoices": LOGIN,
    "billing:invoice_create": LOGIN,
    "billing:invoice_lines": LOGIN,
    "billing:peppol_register": LOGIN,
    "billing:email_register": LOGIN,
    "billing:email_presend": LOGIN,
    "billing:email_send": BILLING,
    "billing:batch": LOGIN,
    "billing:paper_register": LOGIN,
    "billing:paper_pdf": LOGIN,
    # Tax files
    "taxes:index": LOGIN,
    "taxes:list": LOGIN,
    "taxes:mail": LOGIN,
    "taxes:create": LOGIN,
    "taxes:edit": LOGIN,
    # Documents and secure links
    "documents:client": LOGIN,
    "documents:download": LOGIN,
    "documents:delete": OWNER_ACTS,
    "documents:link_revoke": OWNER_ACTS,
    # The client's pages of a secure link: no login, the token and the code.
    "links:open": PUBLIC,
    # The demonstration's mailbox and access point: for the logged-in, and only while the
    # demo runs (COURRIER_DEMO=1; a 404 otherwise, as here).
    "demo:mailbox": LOGIN,
    "demo:peppol": LOGIN,
    "demo:peppol_ubl": LOGIN,
    "demo:mailbox_message": LOGIN,
    "demo:mailbox_eml": LOGIN,
    # The technical administration's own doors.
    "admin:login": PUBLIC,
    "admin:logout": dict.fromkeys(ROLES, "ok") | {"anonymous": "admin-login"},
}
# The technical administration (`/admin/`): staff accounts only, every one of its addresses
# (what each staff account may do there is its model permissions; the messages follow
# `messages_visible`, tests/mailing/test_message_access.py).
FAMILIES: dict[str, dict[str, str]] = {"admin:": STAFF}
# Addresses whose object the table does not make (or which need a query the table does not
# give): a 404 there is no refusal.
NO_OBJECT = {
    "demo:mailbox",
    "demo:peppol",
    "admin:autocomplete",
    "admin:view_on_site",
    "mailing:template_fields",
    "billing:invoice_ubl",
    "billing:batch",
    "taxes:edit",
    "mailing:webhook",
    "links:open",
    "demo:peppol_ubl",
    "demo:mailbox_message",
    "demo:mailbox_eml",
}


@dataclass
class World:
    people: dict[str, Collaborator]
    objects: dict[str, int]


def _attachment_message(anne: Collaborator, client_pk: int) -> OutboundMessage:
    """anne's mail, not archived, with one file: as the compose window stores it."""
    browser = Browser()
    browser.force_login(anne)
    browser.post(
        reverse("mailing:upload"),
        {"files": SimpleUploadedFile("bilan.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")},
        headers={"HX-Request": "true"},
    )
    upload = Upload.objects.latest("pk")
    response = browser.post(
        f"{reverse('mailing:compose')}?client={client_pk}",
        {
            "recipients": "client",
            "client": str(client_pk),
            "language": "fr",
            "subject": "Votre bilan",
            "body": "Bonjour,\n\nVoici votre bilan.",
            "uploads": [upload.pk],
            "send": "1",
        },
    )
    assert response.status_code == 302
    return OutboundMessage.objects.get(subject="Votre bilan")


@pytest.fixture
def world() -> World:
    people = {
        "anne": Collaborator.objects.create_user("anne@fidu.be", "pw", first_name="Anne"),
        "bob": Collaborator.objects.create_user("bob@fidu.be", "pw", first_name="Bob"),
        "carla": Collaborator.objects.create_user("carla@fidu.be", "pw", first_name="Carla"),
        "luc": Collaborator.objects.create_user(
            "luc@fidu.be", "pw", first_name="Luc", role=Collaborator.Role.ADMIN
        ),
        "staff": Collaborator.objects.create_superuser("tech@fidu.be", "pw"),
    }
    billing_grant(people["carla"])
    anne = people["anne"]
    profile = SendingProfile.objects.create(
        collaborator=anne,
        smtp_host="127.0.0.1",
        smtp_port=9,
        smtp_security=SendingProfile.Security.NONE,
        from_name="Anne",
        from_address="anne@fidu.be",
    )
    company = make_billing_company()
    client = make_invoice_client()
    draft = make_invoice(company, client, issue=False)
    issued = make_invoice(company, client)
    message = _attachment_message(anne, client.pk)
    batch = MailBatch.objects.create(sender=anne, subject="Rappel", body="Bonjour")
    template = MailTemplate.objects.create(name="Le mien", owner=anne, shared=False)
    phrase = Phrase.objects.create(name="La mienne", owner=anne, shared=False)
    selection = ClientSelection.objects.create(name="Mes clients", owner=anne)
    tag = Tag.objects.create(name="VIP")
    document = Document.objects.create(
        client=client,
        title="Bilan",
        date=draft.issue_date,
        file=ContentFile(b"%PDF-1.4\n%%EOF\n", name="bilan.pdf"),
        filename="bilan.pdf",
        content_type="application/pdf",
        size=15,
        sha256="0" * 64,
        uploaded_by=anne,
    )
    link, _code = link_create(
        client=client,
        name="bilan.pdf",
        content_type="application/pdf",
        content=b"%PDF-1.4\n%%EOF\n",
        created_by=anne,
    )
    objects = {
        "client": client.pk,
        "company": company.pk,
        "draft": draft.pk,
        "issued": issued.pk,
        "message": message.pk,
        "batch": batch.pk,
        "template": template.pk,
        "phrase": phrase.pk,
        "selection": selection.pk,
        "tag": tag.pk,
        "document": document.pk,
        "link": link.pk,
        "profile": profile.pk,
        "anne": anne.pk,
    }
    return World(people=people, objects=objects)


# The arguments of each address that takes some: which object of the world.
ARGS: dict[str, Callable[[dict[str, int]], dict[str, Any]]] = {
    "clients:detail": lambda o: {"pk": o["client"]},
    "clients:edit": lambda o: {"pk": o["client"]},
    "clients:mails": lambda o: {"pk": o["client"]},
    "clients:peppol_lookup": lambda o: {"pk": o["client"]},
    "clients:tag_edit": lambda o: {"pk": o["tag"]},
    "clients:tag_delete": lambda o: {"pk": o["tag"]},
    "clients:selection_delete": lambda o: {"pk": o["selection"]},
    "clients:selection_share": lambda o: {"pk": o["selection"]},
    "mailing:batch_progress": lambda o: {"pk": o["batch"]},
    "mailing:message_detail": lambda o: {"pk": o["message"]},
    "mailing:message_eml": lambda o: {"pk": o["message"]},
    "mailing:message_attachment": lambda o: {"pk": o["message"], "index": 0},
    "mailing:message_cancel": lambda o: {"pk": o["message"]},
    "mailing:message_retry": lambda o: {"pk": o["message"]},
    "mailing:message_resend": lambda o: {"pk": o["message"]},
    "mailing:company_profile": lambda o: {"pk": o["company"]},
    "mailing:company_peppol": lambda o: {"pk": o["company"]},
    "mailing:company_peppol_test": lambda o: {"pk": o["company"]},
    "mailing:template_edit": lambda o: {"pk": o["template"]},
    "mailing:oauth_connect": lambda o: {"pk": o["profile"]},
    "mailing:oauth_disconnect": lambda o: {"pk": o["profile"]},
    "mailing:webhook": lambda o: {"token": "unknown"},
    "mailing:mail_frame": lambda o: {"key": "unknown"},
    "mailing:phrase_edit": lambda o: {"pk": o["phrase"]},
    "mailing:phrase_delete": lambda o: {"pk": o["phrase"]},
    "firm:company_edit": lambda o: {"pk": o["company"]},
    "firm:collaborator_edit": lambda o: {"pk": o["anne"]},
    "firm:collaborator_password": lambda o: {"pk": o["anne"]},
    "firm:collaborator_unlock": lambda o: {"pk": o["anne"]},
    "privacy:client_export": lambda o: {"pk": o["client"]},
    "privacy:client_erase": lambda o: {"pk": o["client"]},
    "password_reset_confirm": lambda o: {"uidb64": "MQ", "token": "unknown"},
    "billing:invoice": lambda o: {"pk": o["issued"]},
    "billing:invoice_edit": lambda o: {"pk": o["draft"]},
    "billing:invoice_issue": lambda o: {"pk": o["draft"]},
    "billing:invoice_delete": lambda o: {"pk": o["draft"]},
    "billing:invoice_pdf": lambda o: {"pk": o["issued"]},
    "billing:invoice_ubl": lambda o: {"pk": o["issued"]},
    "billing:invoice_resend": lambda o: {"pk": o["issued"]},
    "billing:credit_note_create": lambda o: {"pk": o["issued"]},
    "billing:client_invoices": lambda o: {"client_pk": o["client"]},
    "billing:batch": lambda o: {"code": "FIDU", "pk": 999999},
    "taxes:list": lambda o: {"slug": "tva"},
    "taxes:mail": lambda o: {"slug": "tva"},
    "taxes:create": lambda o: {"slug": "tva"},
    "taxes:edit": lambda o: {"slug": "tva", "pk": 999999},
    "documents:client": lambda o: {"client_pk": o["client"]},
    "documents:download": lambda o: {"pk": o["document"]},
    "documents:delete": lambda o: {"pk": o["document"]},
    "documents:link_revoke": lambda o: {"pk": o["link"]},
    "links:open": lambda o: {"token": "unknown"},
    "demo:peppol_ubl": lambda o: {"document_id": "unknown"},
    "demo:mailbox_message": lambda o: {"name": "unknown"},
    "demo:mailbox_eml": lambda o: {"name": "unknown"},
}
for _name in (
    "billing:invoices",
    "billing:invoice_create",
    "billing:invoice_lines",
    "billing:peppol_register",
    "billing:email_register",
    "billing:email_presend",
    "billing:email_send",
    "billing:paper_register",
    "billing:paper_pdf",
):
    ARGS[_name] = lambda o: {"code": "FIDU"}


@dataclass(frozen=True)
class Address:
    key: str  # the url name, or "/route" for a pattern without one
    pattern: URLPattern
    route: str


def addresses() -> Iterator[Address]:
    """Every URL pattern of the project, with its namespaced name."""

    def walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[Address]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace
                if pattern.namespace:
                    inner = f"{namespace}{pattern.namespace}:"
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                key = f"{namespace}{pattern.name}" if pattern.name else f"/{route}"
                if not pattern.name and namespace:
                    key = f"{namespace}/{route}"
                yield Address(key=key, pattern=pattern, route=route)

    yield from walk(get_resolver().url_patterns, "", "")


def decision(key: str) -> dict[str, str] | None:
    if key in ACCESS:
        return ACCESS[key]
    for prefix, expected in FAMILIES.items():
        if key.startswith(prefix):
            return expected
    return None


def test_every_address_has_a_decision() -> None:
    undecided = sorted({a.key for a in addresses() if decision(a.key) is None})
    assert not undecided, (
        "Addresses without a decision on who may open them: add each to ACCESS in "
        f"tests/test_access_matrix.py: {undecided}"
    )
    names = {a.key for a in addresses()}
    stale = sorted(set(ACCESS) - names)
    assert not stale, f"ACCESS names addresses that no longer exist: {stale}"


def _admin_url(address: Address) -> str:
    """An address of the technical administration, its arguments filled in."""
    route = address.route.lstrip("^").rstrip("$")
    for token in ("<path:object_id>", "<id>"):
        route = route.replace(token, "1")
    route = route.replace("(?P<url>.*)", "nothing-here")
    route = route.replace("<int:content_type_id>", "1").replace("<path:object_id>", "1")
    return "/" + route


def _url(address: Address, world: World) -> str:
    if address.key.startswith("admin:") or address.key.startswith("admin/"):
        if address.pattern.name:
            try:
                kwargs = {
                    name: ("1" if name != "app_label" else "mailing")
                    for name in address.pattern.pattern.converters
                }
                return reverse(address.key, kwargs=kwargs or None)
            except Exception:
                return _admin_url(address)
        return _admin_url(address)
    args = ARGS.get(address.key)
    if address.pattern.name is None:
        return "/" + address.route
    return reverse(address.key, kwargs=args(world.objects) if args else None)


def _outcome(response: Any) -> str:
    status = response.status_code
    location = response.get("Location", "") if status in (301, 302) else ""
    if location.startswith("/admin/login/"):
        return "admin-login"
    if location.startswith(reverse("login")):
        return "login"
    if status >= 500:
        return "500"
    if status in (403, 404):
        return str(status)
    return "ok"


def _matches(expected: str, got: str, key: str) -> bool:
    if expected == "login":  # the application's login page, or the administration's
        return got in ("login", "admin-login")
    if expected == "admitted":
        return got in ("ok", "403", "404")
    if expected == "public":
        return got not in ("login", "admin-login", "500")
    if expected == "ok" and got in ("403", "404") and key in NO_OBJECT:
        return True
    return got == expected


@pytest.fixture
def browsers(world: World) -> dict[str, Browser]:
    browsers = {"anonymous": Browser()}
    for role, person in world.people.items():
        browsers[role] = Browser()
        browsers[role].force_login(person)
    return browsers


def test_every_address_as_every_role(world: World, browsers: dict[str, Browser]) -> None:
    wrong: list[str] = []
    for address in addresses():
        expected_by_role = decision(address.key)
        assert expected_by_role is not None, address.key  # the test above says which
        url = _url(address, world)
        is_admin_site = address.key.startswith("admin")
        roles = ("anonymous", "luc", "staff") if is_admin_site else ROLES
        for role in roles:
            expected = expected_by_role[role]
            response = browsers[role].get(url)
            got = _outcome(response)
            if response.status_code == 405 and expected not in ("ok", "public"):
                # A POST-only view: asked as it is used, by a role it must refuse.
                got = _outcome(browsers[role].post(url))
            if not _matches(expected, got, address.key):
                wrong.append(f"{address.key} ({url}) as {role}: expected {expected}, got {got}")
    assert not wrong, "\n".join(wrong)
