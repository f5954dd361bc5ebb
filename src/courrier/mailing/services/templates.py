"""The firm's mail templates as code writes them: the apps' demo data, the seed of a new firm.

The template pages write through their forms; an app that brings templates of its own (an
invoice mail, a VAT reminder) asks for them here rather than writing mailing's tables.
"""

from __future__ import annotations

from collections.abc import Mapping

from courrier.mailing.models import MailTemplate, MailTemplateVersion
from courrier.mailing.rendering import body_html


def template_ensure(
    *,
    name: str,
    context: str,
    versions: Mapping[str, tuple[str, str]],
    overwrite: bool = False,
) -> MailTemplate:
    """The firm's template `name` for `context`, made if missing, with a version in each
    language of `versions` (subject, body written as text or HTML). Versions already there are
    kept, unless `overwrite`: then they are rewritten and the template is unshared again."""
    template = MailTemplate.objects.filter(
        name=name, owner__isnull=True, context=context
    ).first() or MailTemplate(name=name, context=context)
    if overwrite:
        template.shared = False
    if template.pk is None or overwrite:
        template.full_clean()
        template.save()
    for language, (subject, body) in versions.items():
        values = {"subject": subject, "body": body_html(body)}
        if overwrite:
            MailTemplateVersion.objects.update_or_create(
                template=template, language=language, defaults=values
            )
        else:
            MailTemplateVersion.objects.get_or_create(
                template=template, language=language, defaults=values
            )
    return template
