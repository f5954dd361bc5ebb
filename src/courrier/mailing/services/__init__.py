"""The outbox: compose, deliver, recover, cancel, retry. The only code that writes messages.

A message is committed (bytes built once, Message-ID fixed) before any attempt to send it;
delivery is enqueued when that transaction commits. Views, commands and tasks call these
functions; they are keyword-only and raise the errors of `courrier.mailing.exceptions`
(and Django's ValidationError for bad input).
"""

from courrier.mailing.links import (
    PURGE_AFTER_DAYS,
    client_links,
    link_revoke,
    link_state,
    links_purge,
)
from courrier.mailing.rendering import body_html
from courrier.mailing.services.batch import (
    batch_contexts,
    batch_create,
    batch_create_checked,
    batch_create_once,
    batch_resume,
    batches_resume_stalled,
)
from courrier.mailing.services.checks import PresendCheck, Reason, presend_check
from courrier.mailing.services.compose import message_compose, message_store_checked
from courrier.mailing.services.contents import message_bytes
from courrier.mailing.services.delivery import (
    DeliveryReport,
    delivery_enqueue,
    delivery_ensure_next,
    message_cancel,
    message_retry,
    messages_deliver,
    messages_recover,
    profiles_waiting,
)
from courrier.mailing.services.drafts import Draft, Preview, message_preview
from courrier.mailing.services.events import Event, delivery_events_record, profile_webhook
from courrier.mailing.services.holes import holes
from courrier.mailing.services.leases import retry_delay
from courrier.mailing.services.once import resend_next
from courrier.mailing.services.options import ComposeOptions, compose_options
from courrier.mailing.services.profiles import (
    profile_blocker,
    profile_for,
    profile_key_problem,
    profile_updated,
    profile_verify,
)
from courrier.mailing.services.recovery import Recovery, outbox_recover
from courrier.mailing.services.resend import message_resend
from courrier.mailing.services.rounds import BatchProgress, batch_compose
from courrier.mailing.services.sent_copy import sent_copy_append
from courrier.mailing.services.setup import encoded_size, message_size_limit, profile_for_sender
from courrier.mailing.services.store import (
    PreparedMessage,
    document_prepare,
    message_for_key,
    message_store_once,
)
from courrier.mailing.services.templates import template_ensure
from courrier.mailing.services.uploads import clean_filename, upload_store
from courrier.mailing.signatures import mail_signature

__all__ = [
    "PURGE_AFTER_DAYS",
    "BatchProgress",
    "ComposeOptions",
    "DeliveryReport",
    "Draft",
    "Event",
    "PreparedMessage",
    "PresendCheck",
    "Preview",
    "Reason",
    "Recovery",
    "batch_compose",
    "batch_contexts",
    "batch_create",
    "batch_create_checked",
    "batch_create_once",
    "batch_resume",
    "batches_resume_stalled",
    "body_html",
    "clean_filename",
    "client_links",
    "compose_options",
    "delivery_enqueue",
    "delivery_ensure_next",
    "delivery_events_record",
    "document_prepare",
    "encoded_size",
    "holes",
    "link_revoke",
    "link_state",
    "links_purge",
    "mail_signature",
    "message_bytes",
    "message_cancel",
    "message_compose",
    "message_for_key",
    "message_preview",
    "message_resend",
    "message_retry",
    "message_size_limit",
    "message_store_checked",
    "message_store_once",
    "messages_deliver",
    "messages_recover",
    "outbox_recover",
    "presend_check",
    "profile_blocker",
    "profile_for",
    "profile_for_sender",
    "profile_key_problem",
    "profile_updated",
    "profile_verify",
    "profile_webhook",
    "profiles_waiting",
    "resend_next",
    "retry_delay",
    "sent_copy_append",
    "template_ensure",
    "upload_store",
]
