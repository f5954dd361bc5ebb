"""The mailing screens' forms, one module per family: `profiles` (Ma fiche, the sending
profile), `compose` (the compose window, "save as template"), `templates` (the mail template
form), `phrases` (the standard phrase form). The forms are re-exported here for their callers."""

from courrier.mailing.forms.compose import ComposeForm, Recipients, TemplateSaveForm
from courrier.mailing.forms.phrases import PhraseForm
from courrier.mailing.forms.profiles import CollaboratorDetailsForm, SendingProfileForm
from courrier.mailing.forms.templates import MailTemplateForm

__all__ = [
    "CollaboratorDetailsForm",
    "ComposeForm",
    "MailTemplateForm",
    "PhraseForm",
    "Recipients",
    "SendingProfileForm",
    "TemplateSaveForm",
]
