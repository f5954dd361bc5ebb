"""`courrier peppol-lookup [--company CODE] [--client NUMBER] [--switch]`: which clients are
reachable on Peppol, asked of the access points, and kept in their files.

Every active client with a Peppol identifier (given, or 0208: and the enterprise number of a
Belgian client) is looked up through its billing company's access point (else the first one
configured); `--company` keeps the clients of one billing company, `--client` one client.
`--switch` sets the invoice channel of those registered for invoices to Peppol, so that a firm
switches its clients at once after the look-up; the others keep theirs. One line per client,
then a summary.

Exit codes: 0 done (whatever the clients' answers); 1 some look-ups failed; 2 a wrong argument
or no access point configured.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from courrier.clients.models import Client
from courrier.firm.models import BillingCompany
from courrier.mailing.transports.peppol import access_point_for
from courrier.peppol.access_points.base import AccessPoint
from courrier.peppol.lookup import NoAccessPoint, clients_lookup, lookup_profile


class Command(BaseCommand):
    help = _("Vérifie sur Peppol quels clients y sont inscrits ; --switch les passe à Peppol.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--company", help=_("seulement les clients de cette société facturante")
        )
        parser.add_argument("--client", help=_("seulement ce client (son numéro)"))
        parser.add_argument(
            "--switch",
            action="store_true",
            help=_("passer à Peppol l'envoi des factures des clients qui y sont inscrits"),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        clients = Client.objects.filter(active=True).select_related("billing_company")
        if options["company"]:
            company = BillingCompany.objects.filter(code__iexact=options["company"].strip()).first()
            if company is None:
                raise CommandError(
                    _("Société facturante inconnue : « %(code)s ».") % {"code": options["company"]},
                    returncode=2,
                )
            clients = clients.filter(billing_company=company)
        if options["client"]:
            clients = clients.filter(number__iexact=options["client"].strip())
            if not clients.exists():
                raise CommandError(
                    _("Aucun client actif ne porte le numéro « %(number)s ».")
                    % {"number": options["client"]},
                    returncode=2,
                )
        try:
            lookup_profile()
        except NoAccessPoint:
            raise CommandError(
                _(
                    "Aucune société facturante n'a de point d'accès Peppol : configurez-en un "
                    "sur la page d'une société facturante (Peppol)."
                ),
                returncode=2,
            ) from None
        opened: dict[int, AccessPoint] = {}

        def opened_for(client: Client) -> AccessPoint:
            profile = lookup_profile(client)
            if profile.pk not in opened:
                opened[profile.pk] = access_point_for(profile)
            return opened[profile.pk]

        outcomes = {
            "registered": _("inscrit sur Peppol"),
            "switched": _("inscrit sur Peppol, passé à Peppol"),
            "not_registered": _("pas inscrit sur Peppol"),
            "no_identifier": _("pas d'identifiant Peppol"),
            "error": _("erreur"),
        }

        def progress(client: Client, outcome: str) -> None:
            self.stdout.write(
                f"  {client.number} {client.display_name} ({client.peppol_address or '—'}) : "
                f"{outcomes[outcome]}"
            )

        try:
            report = clients_lookup(
                clients.order_by("number"),
                access_point_for=opened_for,
                switch=options["switch"],
                progress=progress,
            )
        finally:
            for access_point in opened.values():
                access_point.close()
        registered = len(report.registered)
        self.stdout.write(
            _("Résumé : %(registered)s, %(switched)s, %(not)s, %(none)s, %(errors)s.")
            % {
                "registered": ngettext(
                    "%(count)d inscrit sur Peppol", "%(count)d inscrits sur Peppol", registered
                )
                % {"count": registered},
                "switched": ngettext(
                    "%(count)d passé à Peppol", "%(count)d passés à Peppol", len(report.switched)
                )
                % {"count": len(report.switched)},
                "not": ngettext(
                    "%(count)d non inscrit", "%(count)d non inscrits", len(report.not_registered)
                )
                % {"count": len(report.not_registered)},
                "none": ngettext(
                    "%(count)d sans identifiant",
                    "%(count)d sans identifiant",
                    len(report.no_identifier),
                )
                % {"count": len(report.no_identifier)},
                "errors": ngettext("%(count)d erreur", "%(count)d erreurs", len(report.errors))
                % {"count": len(report.errors)},
            }
        )
        for number, error in report.errors.items():
            self.stdout.write(
                _("  erreur %(number)s : %(error)s") % {"number": number, "error": error}
            )
        if report.errors:
            sys.exit(1)
