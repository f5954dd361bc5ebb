"""The upgrade: the collaborators of an installation keep issuing, deleting drafts and sending
invoices (they join the group "Facturation"); one created afterwards holds none of it; and the
code mails stored before leave the client file."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group

from courrier.firm.models import Collaborator
from courrier.firm.permissions import BILLING_GROUP
from courrier.mailing.models import OutboundMessage, SendingProfile
from tests.clients.factories import make_client
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db

# Data migrations: they read and update rows, never the schema, so they run here on rows
# stored as before them.
ROLES = importlib.import_module("courrier.billing.migrations.0007_access_permissions")
CODE_MAILS = importlib.import_module("courrier.mailing.migrations.0015_access_code_mails_private")


def test_the_collaborators_of_before_keep_billing_a_new_one_does_not() -> None:
    Group.objects.filter(name=BILLING_GROUP).delete()
    anne = make_collaborator("anne@fidu.be")
    ROLES.billing_group(django_apps, None)

    anne = Collaborator.objects.get(pk=anne.pk)
    for perm in ("billing.issue_invoice", "billing.delete_draft", "billing.send_invoices"):
        assert anne.has_perm(perm), perm
    later = make_collaborator("later@fidu.be")
    assert not later.has_perm("billing.issue_invoice")


def _message(profile: SendingProfile, purpose: str, number: int) -> OutboundMessage:
    return OutboundMessage.objects.create(
        profile=profile,
        sender=profile.collaborator,
        client=make_client(f"C{number:04d}"),
        purpose=purpose,
        archived=True,
        language="fr",
        message_id=f"<{number}@fidu.be>",
        subject="Votre code d'accès",
        from_address="anne@fidu.be",
    )


def test_the_code_mails_of_before_leave_the_client_file() -> None:
    anne = make_collaborator("anne@fidu.be")
    profile = SendingProfile.objects.create(
        collaborator=anne, smtp_host="127.0.0.1", from_address="anne@fidu.be"
    )
    code_mail = _message(profile, "link-code", 1)
    copy = _message(profile, f"resend:{code_mail.pk}", 2)
    copy_of_copy = _message(profile, f"resend:{copy.pk}", 3)
    other = _message(profile, "client", 4)

    CODE_MAILS.code_mails_private(django_apps, None)

    archived = dict(OutboundMessage.objects.values_list("pk", "archived"))
    assert archived == {code_mail.pk: False, copy.pk: False, copy_of_copy.pk: False, other.pk: True}
