"""The demo firm: collaborators, billing companies, clients and templates, all fictitious.

Every e-mail address is on a reserved ``.example`` domain; enterprise numbers and IBANs are
made up but valid (modulo 97), so that forms accept them as they would real ones.

Fiduciaire Demo sends e-invoices: its Peppol access point is the demo's own
(`courrier.demo.access_point`, Billit's API on 127.0.0.1, its address refreshed at every seed
like the SMTP port), where every demo client with an enterprise number is a participant. Its
Belgian VAT-registered clients receive their invoices by Peppol (one asks for a courtesy copy
of the PDF by e-mail), but for one company left on e-mail, which the pre-send check blocks with
its reason; Boekhouding Demo has no access point, so its VAT-registered clients only warn.

Its size: data, not logic — the demo firm's people, companies, clients and templates in four
languages, written out so that a reader sees exactly what the demo holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from courrier.billing.demo import seed_invoices
from courrier.clients.models import Client, ClientEmail, ClientSelection, InvoiceChannel, Tag
from courrier.clients.selectors import SelectionFilters
from courrier.demo.access_point import DEMO_BILLIT_KEY, DEMO_BILLIT_PARTY
from courrier.documents.demo import seed_documents
from courrier.firm.models import SIGNATURE_FIELDS, BillingCompany, Collaborator, Firm
from courrier.firm.permissions import billing_grant
from courrier.languages import MailLanguage
from courrier.mailing import richtext
from courrier.mailing.models import (
    MailTemplate,
    Phrase,
    PhraseVersion,
    SendingProfile,
)
from courrier.mailing.rendering import body_html
from courrier.mailing.services import template_ensure
from courrier.peppol.identifiers import peppol_id_of_company
from courrier.taxes.demo import seed_taxes

# Printed by `courrier demo`: the demo firm is fictitious and only listens on 127.0.0.1.
DEMO_PASSWORD = "courrier-demo"  # noqa: S105
DEMO_FIRM_NAME = "Fiduciaire Demo"
DEFAULT_SMTP_PORT = 1025
DEFAULT_PEPPOL_PORT = 8070
# The company that sends e-invoices through the demo's access point.
PEPPOL_COMPANY = "FIDU"
# Its access point's webhook, known to `courrier demo` before the database is (it points the
# demo's access point at it): fictitious like the password, and served on 127.0.0.1 only.
DEMO_WEBHOOK_TOKEN = "demo-peppol-fidu"  # noqa: S105
DEMO_WEBHOOK_SECRET = "demo-peppol-webhook-secret"  # noqa: S105

GENERAL = ClientEmail.Purpose.GENERAL
INVOICES = ClientEmail.Purpose.INVOICES
COMPANY = Client.Kind.COMPANY
PERSON = Client.Kind.PERSON
NONPROFIT = Client.Kind.NONPROFIT


@dataclass(frozen=True)
class DemoCollaborator:
    key: str
    email: str
    first_name: str
    last_name: str
    language: str
    role: str
    phone: str
    # The role Facturation (issue, delete drafts, send invoices); administrators hold it anyway.
    bills: bool
    # A version per language the collaborator writes in; a mail in another goes unsigned.
    signatures: dict[str, str]


COLLABORATORS = [
    DemoCollaborator(
        key="sophie",
        email="sophie.dubois@fiduciaire-demo.example",
        first_name="Sophie",
        last_name="Dubois",
        language="fr",
        role=Collaborator.Role.ADMIN,
        phone="+32 2 555 10 21",
        bills=True,
        signatures={
            "fr": "Sophie Dubois\nExpert-comptable\nFiduciaire Demo\n"
            "Avenue Louise 250, 1050 Bruxelles\nTél. +32 2 555 10 21",
            "nl": "Sophie Dubois\nAccountant\nFiduciaire Demo\n"
            "Louizalaan 250, 1050 Brussel\nTel. +32 2 555 10 21",
            "en": "Sophie Dubois\nChartered accountant\nFiduciaire Demo\n"
            "Avenue Louise 250, 1050 Brussels, Belgium\nPhone +32 2 555 10 21",
        },
    ),
    DemoCollaborator(
        key="pieter",
        email="pieter.janssens@fiduciaire-demo.example",
        first_name="Pieter",
        last_name="Janssens",
        language="nl",
        role=Collaborator.Role.COLLABORATOR,
        phone="+32 3 555 20 32",
        bills=True,
        signatures={
            "nl": "Pieter Janssens\nAccountant\nFiduciaire Demo – Boekhouding Demo\n"
            "Frankrijklei 120, 2000 Antwerpen\nTel. +32 3 555 20 32",
            "fr": "Pieter Janssens\nComptable\nFiduciaire Demo – Boekhouding Demo\n"
            "Frankrijklei 120, 2000 Anvers\nTél. +32 3 555 20 32",
            "de": "Pieter Janssens\nBuchhalter\nFiduciaire Demo – Boekhouding Demo\n"
            "Frankrijklei 120, 2000 Antwerpen\nTel. +32 3 555 20 32",
        },
    ),
    DemoCollaborator(
        key="emma",
        email="emma.collins@fiduciaire-demo.example",
        first_name="Emma",
        last_name="Collins",
        language="en",
        role=Collaborator.Role.COLLABORATOR,
        phone="+32 2 555 10 45",
        bills=False,
        signatures={
            "en": "Emma Collins\nTax adviser\nFiduciaire Demo\nPhone +32 2 555 10 45",
            "fr": "Emma Collins\nConseillère fiscale\nFiduciaire Demo\nTél. +32 2 555 10 45",
        },
    ),
]

FIRM = {
    "name": DEMO_FIRM_NAME,
    "default_language": "fr",
    "website": "https://www.fiduciaire-demo.example",
    "phone": "+32 2 555 10 00",
}

BILLING_COMPANIES = [
    {
        "code": "FIDU",
        "name": "Fiduciaire Demo",
        "legal_form": "SRL",
        "enterprise_number": "0494.482.244",
        "vat_number": "BE0494482244",
        "street": "Avenue Louise 250",
        "postal_code": "1050",
        "city": "Bruxelles",
        "iban": "BE18 0010 1338 4965",
        "bic": "GEBABEBB",
        "email": "factures@fiduciaire-demo.example",
        "phone": "+32 2 555 10 00",
        "default_language": "fr",
        # Its invoice mails are signed by the company, in the invoice's language.
        "signature_fr": "Fiduciaire Demo SRL – service facturation\n"
        "Avenue Louise 250, 1050 Bruxelles\n"
        "Tél. +32 2 555 10 00 – factures@fiduciaire-demo.example\nTVA BE 0494.482.244",
        "signature_nl": "Fiduciaire Demo SRL – facturatie\n"
        "Louizalaan 250, 1050 Brussel\n"
        "Tel. +32 2 555 10 00 – factures@fiduciaire-demo.example\nBtw BE 0494.482.244",
        "signature_de": "Fiduciaire Demo SRL – Rechnungswesen\n"
        "Avenue Louise 250, 1050 Brüssel\n"
        "Tel. +32 2 555 10 00 – factures@fiduciaire-demo.example\nMwSt. BE 0494.482.244",
        "signature_en": "Fiduciaire Demo SRL – invoicing\n"
        "Avenue Louise 250, 1050 Brussels, Belgium\n"
        "Phone +32 2 555 10 00 – factures@fiduciaire-demo.example\nVAT BE 0494.482.244",
    },
    {
        "code": "BOEK",
        "name": "Boekhouding Demo",
        "legal_form": "BV",
        "enterprise_number": "0663.412.791",
        "vat_number": "BE0663412791",
        "street": "Frankrijklei 120",
        "postal_code": "2000",
        "city": "Antwerpen",
        "iban": "BE48 3634 3698 3727",
        "bic": "BBRUBEBB",
        "email": "facturen@boekhouding-demo.example",
        "phone": "+32 3 555 20 00",
        "default_language": "nl",
        "signature_nl": "Het team van Boekhouding Demo BV\nFrankrijklei 120, 2000 Antwerpen\n"
        "Tel. +32 3 555 20 00 – facturen@boekhouding-demo.example\nBtw BE 0663.412.791",
        "signature_fr": "L'équipe de Boekhouding Demo BV\nFrankrijklei 120, 2000 Anvers\n"
        "Tél. +32 3 555 20 00 – facturen@boekhouding-demo.example\nTVA BE 0663.412.791",
        "signature_de": "Ihr Team von Boekhouding Demo BV\nFrankrijklei 120, 2000 Antwerpen\n"
        "Tel. +32 3 555 20 00 – facturen@boekhouding-demo.example\nMwSt. BE 0663.412.791",
        "signature_en": "The Boekhouding Demo BV team\nFrankrijklei 120, 2000 Antwerp, Belgium\n"
        "Phone +32 3 555 20 00 – facturen@boekhouding-demo.example\nVAT BE 0663.412.791",
    },
]


@dataclass(frozen=True)
class DemoClient:
    number: str
    kind: str
    name: str
    legal_form: str
    enterprise_number: str
    vat: bool
    language: str
    contact_name: str
    salutation: str
    street: str
    postal_code: str
    city: str
    phone: str
    emails: tuple[tuple[str, str], ...]
    invoices_by_email: bool
    billing_company: str
    responsible: str
    country: str = "BE"
    # Receives its invoices by Peppol (else by e-mail or on paper, as `invoices_by_email`).
    peppol: bool = False
    # With the PDF by e-mail as well, once the e-invoice is delivered.
    courtesy_copy: bool = False

    @property
    def invoice_channel(self) -> str:
        if self.peppol:
            return InvoiceChannel.PEPPOL
        return InvoiceChannel.EMAIL if self.invoices_by_email else InvoiceChannel.PAPER


# fmt: off
CLIENTS = [
    # Brussels
    DemoClient("C0001", COMPANY, "Boulangerie Dupont", "SRL", "0423.097.271", True, "fr",
               "Marie Dupont", "Chère Madame Dupont", "Rue Haute 112", "1000", "Bruxelles",
               "+32 2 511 23 45",
               (("info@boulangerie-dupont.example", GENERAL),
                ("factures@boulangerie-dupont.example", INVOICES)), True, "FIDU", "sophie",
               peppol=True),
    DemoClient("C0002", COMPANY, "Cabinet dentaire Lambert", "SRL", "0407.898.460", False, "fr",
               "Olivier Lambert", "Cher Docteur Lambert", "Chaussée d'Ixelles 201", "1050",
               "Ixelles", "+32 2 512 40 18",
               (("secretariat@dentiste-lambert.example", GENERAL),), False, "FIDU", "sophie"),
    DemoClient("C0003", COMPANY, "Architectenbureau Vermeulen", "BV", "0708.073.868", True, "nl",
               "Koen Vermeulen", "Beste Koen", "Koningsstraat 180", "1000", "Brussel",
               "+32 2 513 77 02",
               (("koen@vermeulen-architecten.example", GENERAL),
                ("boekhouding@vermeulen-architecten.example", INVOICES)), True, "BOEK", "pieter"),
    DemoClient("C0004", COMPANY, "Le Petit Sablon", "SA", "0564.246.822", True, "fr",
               "Isabelle Mercier", "Chère Madame Mercier", "Rue des Minimes 9", "1000",
               "Bruxelles", "+32 2 514 61 90",
               (("contact@petit-sablon.example", GENERAL),), True, "FIDU", "sophie",
               peppol=True, courtesy_copy=True),
    DemoClient("C0005", NONPROFIT, "Les Amis du Parc Josaphat", "ASBL", "0573.488.150", False,
               "fr", "Bernard Claessens", "Cher Monsieur Claessens",
               "Avenue Louis Bertrand 43", "1030", "Schaerbeek", "",
               (("secretariat@amis-josaphat.example", GENERAL),), False, "FIDU", "sophie"),
    DemoClient("C0006", PERSON, "Jean-Pierre Lefèvre", "", "", False, "fr",
               "", "Cher Monsieur Lefèvre", "Avenue Brugmann 310", "1180", "Uccle",
               "+32 475 12 34 56",
               (("jp.lefevre@mail.example", GENERAL),), True, "FIDU", "sophie"),
    DemoClient("C0007", PERSON, "Sarah Mitchell", "", "0612.517.287", True, "en",
               "", "Dear Ms Mitchell", "Rue des Boers 27", "1040", "Etterbeek",
               "+32 486 22 71 09",
               (("sarah@mitchell-consulting.example", GENERAL),), True, "FIDU", "emma",
               peppol=True),
    DemoClient("C0008", COMPANY, "Brightwave Consulting", "SRL", "0811.090.442", True, "en",
               "James Whitaker", "Dear James", "Boulevard du Souverain 165", "1160",
               "Auderghem", "+32 2 660 18 40",
               (("hello@brightwave.example", GENERAL),
                ("accounts@brightwave.example", INVOICES)), True, "FIDU", "emma",
               peppol=True),
    DemoClient("C0009", PERSON, "David O'Connor", "", "", False, "en",
               "", "Dear Mr O'Connor", "Rue Gray 77", "1050", "Ixelles", "+32 497 40 11 83",
               (), False, "FIDU", "emma"),
    DemoClient("C0010", COMPANY, "Northgate Data", "SRL", "1080.976.908", True, "en",
               "Priya Sharma", "Dear Ms Sharma", "Avenue de Tervueren 270", "1150",
               "Woluwe-Saint-Pierre", "+32 2 770 52 31",
               (("priya@northgate-data.example", GENERAL),
                ("finance@northgate-data.example", INVOICES)), True, "FIDU", "emma",
               peppol=True),
    # Wallonia
    DemoClient("C0011", COMPANY, "Garage Moreau", "SA", "0545.794.353", True, "fr",
               "Philippe Moreau", "Cher Monsieur Moreau", "Chaussée de Louvain 412", "5020",
               "Namur", "+32 81 30 44 21",
               (("info@garage-moreau.example", GENERAL),
                ("comptabilite@garage-moreau.example", INVOICES)), True, "FIDU", "sophie",
               peppol=True),
    DemoClient("C0012", COMPANY, "Ferme du Haut-Pays", "SRL", "0419.517.872", True, "fr",
               "Céline Dethier", "Chère Madame Dethier", "Rue du Condroz 14", "5590", "Ciney",
               "+32 83 21 67 35",
               (("contact@ferme-haut-pays.example", GENERAL),), False, "FIDU", "sophie"),
    # Still on e-mail: the pre-send check blocks its PDF, its legal invoice being Peppol's.
    DemoClient("C0013", COMPANY, "Pharmacie Renard", "SRL", "0874.263.473", True, "fr",
               "Anne Renard", "Chère Madame Renard", "Rue Saint-Gilles 56", "4000", "Liège",
               "+32 4 222 18 90",
               (("pharmacie@renard-liege.example", GENERAL),), True, "FIDU", "sophie"),
    DemoClient("C0014", COMPANY, "Menuiserie Lejeune", "SRL", "0415.094.078", True, "fr",
               "Marc Lejeune", "Cher Monsieur Lejeune", "Rue de la Montagne 88", "6000",
               "Charleroi", "+32 71 31 52 64",
               (("marc@menuiserie-lejeune.example", GENERAL),), False, "FIDU", "emma"),
    DemoClient("C0015", PERSON, "Nathalie Collignon", "", "", False, "fr",
               "", "Chère Madame Collignon", "Rue de Nimy 31", "7000", "Mons",
               "+32 472 55 08 17",
               (("n.collignon@mail.example", GENERAL),), True, "FIDU", "emma"),
    DemoClient("C0016", NONPROFIT, "Théâtre de la Meuse", "ASBL", "0812.083.901", False, "fr",
               "Julie Hansen", "Chère Madame Hansen", "Quai de la Batte 12", "4020", "Liège",
               "+32 4 341 70 26",
               (("direction@theatre-meuse.example", GENERAL),), False, "FIDU", "sophie"),
    DemoClient("C0017", PERSON, "André Gilson", "", "", False, "fr",
               "", "Cher Monsieur Gilson", "Grand-Rue 5", "6700", "Arlon", "+32 63 22 91 40",
               (), False, "FIDU", "sophie"),
    # Flanders
    DemoClient("C0018", COMPANY, "Bakkerij Peeters", "BV", "0446.407.064", True, "nl",
               "Tom Peeters", "Beste heer Peeters", "Kammenstraat 41", "2000", "Antwerpen",
               "+32 3 231 45 67",
               (("info@bakkerij-peeters.example", GENERAL),
                ("boekhouding@bakkerij-peeters.example", INVOICES)), True, "BOEK", "pieter"),
    DemoClient("C0019", COMPANY, "Transport Van den Broeck", "NV", "0649.266.431", True, "nl",
               "Griet Van den Broeck", "Geachte mevrouw Van den Broeck", "Skaldenstraat 120",
               "9042", "Gent", "+32 9 251 30 80",
               (("planning@transport-vdbroeck.example", GENERAL),
                ("facturatie@transport-vdbroeck.example", INVOICES)), True, "BOEK", "pieter"),
    DemoClient("C0020", COMPANY, "Tandartspraktijk Claes", "BV", "0484.790.657", False, "nl",
               "Hilde Claes", "Geachte dokter Claes", "Bondgenotenlaan 98", "3000", "Leuven",
               "+32 16 22 48 13",
               (("praktijk@tandarts-claes.example", GENERAL),), False, "BOEK", "pieter"),
    DemoClient("C0021", COMPANY, "Brouwerij Wouters", "BV", "0425.295.213", True, "nl",
               "Stijn Wouters", "Beste Stijn", "Brusselsesteenweg 230", "2800", "Mechelen",
               "+32 15 41 27 66",
               (("stijn@brouwerij-wouters.example", GENERAL),), False, "BOEK", "pieter"),
    DemoClient("C0022", NONPROFIT, "Jeugdwerking De Zonnebloem", "VZW", "0777.788.758", False,
               "nl", "Lotte Desmet", "Beste Lotte", "Doorniksestraat 64", "8500", "Kortrijk",
               "",
               (("bestuur@zonnebloem-kortrijk.example", GENERAL),), False, "BOEK", "pieter"),
    DemoClient("C0023", PERSON, "Jan Maes", "", "", False, "nl",
               "", "Geachte heer Maes", "Langestraat 17", "8000", "Brugge", "+32 478 61 20 44",
               (("jan.maes@mail.example", GENERAL),), True, "BOEK", "pieter"),
    DemoClient("C0024", PERSON, "Els Jacobs", "", "0662.072.807", True, "nl",
               "", "Beste Els", "Kempische Steenweg 300", "3500", "Hasselt", "+32 494 73 18 52",
               (("els@jacobs-vertalingen.example", GENERAL),), True, "BOEK", "pieter"),
    DemoClient("C0025", COMPANY, "Bloemen Mertens", "BV", "0633.871.145", True, "nl",
               "An Mertens", "Beste mevrouw Mertens", "Stationsstraat 52", "9100",
               "Sint-Niklaas", "+32 3 776 90 12",
               (("winkel@bloemen-mertens.example", GENERAL),), False, "BOEK", "pieter"),
    # The German-speaking East Cantons
    DemoClient("C0026", COMPANY, "Schreinerei Kessler", "PGmbH", "0581.729.487", True, "de",
               "Michael Kessler", "Sehr geehrter Herr Kessler", "Herbesthaler Straße 112",
               "4700", "Eupen", "+32 87 55 31 20",
               (("info@schreinerei-kessler.example", GENERAL),
                ("buchhaltung@schreinerei-kessler.example", INVOICES)), True, "FIDU", "pieter",
               peppol=True),
    DemoClient("C0027", COMPANY, "Bäckerei Radermacher", "GmbH", "0613.995.746", True, "de",
               "Petra Radermacher", "Sehr geehrte Frau Radermacher", "Hauptstraße 63", "4780",
               "Sankt Vith", "+32 80 22 14 58",
               (("kontakt@baeckerei-radermacher.example", GENERAL),), True, "FIDU", "pieter",
               peppol=True),
    DemoClient("C0028", COMPANY, "Autohaus Schmitz", "AG", "0884.588.629", True, "de",
               "Rainer Schmitz", "Sehr geehrter Herr Schmitz", "Gospertstraße 40", "4700",
               "Eupen", "+32 87 74 26 91",
               (("verkauf@autohaus-schmitz.example", GENERAL),), False, "FIDU", "pieter"),
    DemoClient("C0029", NONPROFIT, "Musikfreunde Kelmis", "VoG", "0428.813.937", False, "de",
               "Gerd Xhonneux", "Sehr geehrter Herr Xhonneux", "Kirchstraße 8", "4720",
               "Kelmis", "",
               (("vorstand@musikfreunde-kelmis.example", GENERAL),), False, "FIDU", "pieter"),
    DemoClient("C0030", PERSON, "Heinz Mertes", "", "", False, "de",
               "", "Sehr geehrter Herr Mertes", "Marktplatz 3", "4750", "Bütgenbach",
               "+32 80 44 63 17",
               (("heinz.mertes@mail.example", GENERAL),), True, "FIDU", "pieter"),
    DemoClient("C0031", PERSON, "Anna Hilgers", "", "", False, "de",
               "", "Sehr geehrte Frau Hilgers", "Dorfstraße 21", "4760", "Büllingen",
               "+32 80 64 72 05",
               (("a.hilgers@mail.example", GENERAL),), False, "FIDU", "pieter"),
    # A client who lives abroad
    DemoClient("C0032", PERSON, "Oliver Bennett", "", "", False, "en",
               "", "Dear Oliver", "14 Park Terrace", "CB1 1JH", "Cambridge", "+44 1223 555 014",
               (("oliver.bennett@mail.example", GENERAL),), True, "FIDU", "emma", country="GB"),
]
# fmt: on

# The firm's templates for the client context: name -> language -> (subject, body).
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "Demande de documents": {
        "fr": (
            "{CABINET} – documents à nous transmettre ({NUMCLIENT})",
            "{FORMULE},\n\n"
            "Nous faisons le point sur le dossier {NOMCLIENT} (client n° {NUMCLIENT}) "
            "à la date du {DATE}.\n\n"
            "Afin de préparer la clôture de vos comptes, pourriez-vous nous transmettre vos "
            "documents comptables (extraits bancaires, factures d'achat et de vente) d'ici la "
            "fin du mois ?\n\n"
            "Votre dossier est suivi par {RESPONSABLE}. N'hésitez pas à nous contacter pour "
            "toute question.\n\n"
            "Bien cordialement,",
        ),
        "nl": (
            "{CABINET} – documenten voor uw boekhouding ({NUMCLIENT})",
            "{FORMULE},\n\n"
            "Wij maken de balans op van het dossier {NOMCLIENT} (klantnummer {NUMCLIENT}) "
            "op {DATE}.\n\n"
            "Om de afsluiting van uw rekeningen voor te bereiden, vragen wij u ons uw "
            "boekhoudkundige stukken (rekeninguittreksels, aankoop- en verkoopfacturen) tegen "
            "het einde van de maand te bezorgen.\n\n"
            "Uw dossier wordt opgevolgd door {RESPONSABLE}. Aarzel niet om ons te contacteren "
            "als u vragen hebt.\n\n"
            "Met vriendelijke groeten,",
        ),
        "de": (
            "{CABINET} – Unterlagen für Ihre Buchhaltung ({NUMCLIENT})",
            "{FORMULE},\n\n"
            "wir ziehen am {DATE} Bilanz zur Akte {NOMCLIENT} (Kundennummer {NUMCLIENT}).\n\n"
            "Zur Vorbereitung Ihres Jahresabschlusses bitten wir Sie, uns Ihre "
            "Buchhaltungsunterlagen (Kontoauszüge, Einkaufs- und Verkaufsrechnungen) bis Ende "
            "des Monats zu übermitteln.\n\n"
            "Ihre Akte wird von {RESPONSABLE} betreut. Bei Fragen stehen wir Ihnen gerne zur "
            "Verfügung.\n\n"
            "Mit freundlichen Grüßen",
        ),
        "en": (
            "{CABINET} – documents for your accounts ({NUMCLIENT})",
            "{FORMULE},\n\n"
            "We are reviewing the file of {NOMCLIENT} (client no. {NUMCLIENT}) as of {DATE}.\n\n"
            "To prepare the closing of your accounts, could you please send us your accounting "
            "documents (bank statements, purchase and sales invoices) by the end of the "
            "month?\n\n"
            "Your file is handled by {RESPONSABLE}. Please do not hesitate to contact us with "
            "any questions.\n\n"
            "Kind regards,",
        ),
    },
    "Bienvenue au cabinet": {
        "fr": (
            "Bienvenue chez {CABINET}",
            "{FORMULE},\n\n"
            "Nous avons le plaisir de vous accueillir parmi les clients de {CABINET}. Votre "
            "numéro de client est le {NUMCLIENT} : merci de le rappeler dans vos échanges avec "
            "nous.\n\n"
            "{RESPONSABLE} suivra votre dossier. Pour toute question : {RESPONSABLE_EMAIL}, "
            "{RESPONSABLE_TEL}.\n\n"
            "Bien cordialement,",
        ),
        "nl": (
            "Welkom bij {CABINET}",
            "{FORMULE},\n\n"
            "Wij heten u van harte welkom als klant van {CABINET}. Uw klantnummer is "
            "{NUMCLIENT}: vermeld het graag in uw contacten met ons.\n\n"
            "{RESPONSABLE} volgt uw dossier op. Voor vragen: {RESPONSABLE_EMAIL}, "
            "{RESPONSABLE_TEL}.\n\n"
            "Met vriendelijke groeten,",
        ),
        "de": (
            "Willkommen bei {CABINET}",
            "{FORMULE},\n\n"
            "wir freuen uns, Sie als Kunden von {CABINET} begrüßen zu dürfen. Ihre "
            "Kundennummer lautet {NUMCLIENT}; bitte geben Sie sie bei allen Anfragen an.\n\n"
            "{RESPONSABLE} betreut Ihre Akte. Bei Fragen: {RESPONSABLE_EMAIL}, "
            "{RESPONSABLE_TEL}.\n\n"
            "Mit freundlichen Grüßen",
        ),
        "en": (
            "Welcome to {CABINET}",
            "{FORMULE},\n\n"
            "We are delighted to welcome you as a client of {CABINET}. Your client number is "
            "{NUMCLIENT}; please quote it whenever you contact us.\n\n"
            "{RESPONSABLE} will look after your file. For any question: {RESPONSABLE_EMAIL}, "
            "{RESPONSABLE_TEL}.\n\n"
            "Kind regards,",
        ),
    },
    "Déclaration fiscale": {
        "fr": (
            "Votre déclaration fiscale – revenus {ANNEEPRECEDENTE}",
            "{FORMULE},\n\n"
            "La période des déclarations fiscales approche. Pour établir la déclaration de "
            "{NOMCLIENT} relative aux revenus {ANNEEPRECEDENTE}, nous aurons besoin de vos "
            "fiches de rémunération, des attestations d'épargne-pension et de crédit "
            "hypothécaire, ainsi que de tout autre justificatif utile.\n\n"
            "Vous pouvez nous les envoyer en réponse à ce mail. {RESPONSABLE} reste à votre "
            "disposition.\n\n"
            "Bien cordialement,",
        ),
        "nl": (
            "Uw belastingaangifte – inkomsten {ANNEEPRECEDENTE}",
            "{FORMULE},\n\n"
            "De periode van de belastingaangiften komt eraan. Om de aangifte van {NOMCLIENT} "
            "voor de inkomsten {ANNEEPRECEDENTE} op te stellen, hebben wij uw loonfiches, de "
            "attesten voor pensioensparen en woonkrediet en alle andere nuttige bewijsstukken "
            "nodig.\n\n"
            "U kunt ze ons bezorgen als antwoord op deze mail. {RESPONSABLE} staat tot uw "
            "beschikking.\n\n"
            "Met vriendelijke groeten,",
        ),
        "de": (
            "Ihre Steuererklärung – Einkünfte {ANNEEPRECEDENTE}",
            "{FORMULE},\n\n"
            "die Zeit der Steuererklärungen naht. Für die Erklärung von {NOMCLIENT} über die "
            "Einkünfte {ANNEEPRECEDENTE} benötigen wir Ihre Lohnbescheinigungen, die "
            "Bescheinigungen über Pensionssparen und Hypothekarkredit sowie alle weiteren "
            "nützlichen Belege.\n\n"
            "Sie können uns diese als Antwort auf diese E-Mail zusenden. {RESPONSABLE} steht "
            "Ihnen gerne zur Verfügung.\n\n"
            "Mit freundlichen Grüßen",
        ),
        "en": (
            "Your tax return – {ANNEEPRECEDENTE} income",
            "{FORMULE},\n\n"
            "Tax return season is approaching. To prepare the return of {NOMCLIENT} for "
            "{ANNEEPRECEDENTE} income, we will need your pay slips, your pension savings and "
            "mortgage certificates, and any other relevant supporting documents.\n\n"
            "You can send them to us in reply to this e-mail. {RESPONSABLE} remains at your "
            "disposal.\n\n"
            "Kind regards,",
        ),
    },
}


@dataclass(frozen=True)
class SeedReport:
    collaborators: int
    billing_companies: int
    clients: int
    templates: int
    profiles: int


def _catcher_profile(*, smtp_port: int, from_name: str, from_address: str) -> dict[str, object]:
    # The catcher speaks plain SMTP on loopback, without authentication.
    return {
        "method": SendingProfile.Method.SMTP,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_security": SendingProfile.Security.NONE,
        "smtp_username": "",
        "smtp_password": "",
        "from_name": from_name,
        "from_address": from_address,
        "state": SendingProfile.State.OK,
        "state_reason": "",
    }


def _seed_collaborators(*, smtp_port: int) -> dict[str, Collaborator]:
    by_key: dict[str, Collaborator] = {}
    for person in COLLABORATORS:
        collaborator = Collaborator.objects.filter(email=person.email).first()
        if collaborator is None:
            collaborator = Collaborator(email=person.email)
        collaborator.first_name = person.first_name
        collaborator.last_name = person.last_name
        collaborator.language = person.language
        collaborator.role = person.role
        collaborator.phone = person.phone
        for language in MailLanguage.values:
            signature = person.signatures.get(language, "")
            setattr(collaborator, f"signature_{language}", richtext.text_html(signature))
        collaborator.is_active = True
        is_admin = person.role == Collaborator.Role.ADMIN
        collaborator.is_staff = is_admin
        collaborator.is_superuser = is_admin
        # Hashing is slow and changes the session hash: only when the password differs.
        if not collaborator.check_password(DEMO_PASSWORD):
            collaborator.set_password(DEMO_PASSWORD)
        collaborator.full_clean()
        collaborator.save()
        if person.bills:
            billing_grant(collaborator)
        SendingProfile.objects.update_or_create(
            collaborator=collaborator,
            defaults=_catcher_profile(
                smtp_port=smtp_port,
                from_name=f"{person.first_name} {person.last_name} – {DEMO_FIRM_NAME}",
                from_address=person.email,
            ),
        )
        by_key[person.key] = collaborator
    return by_key


def _seed_billing_companies(*, smtp_port: int) -> dict[str, BillingCompany]:
    by_code: dict[str, BillingCompany] = {}
    for data in BILLING_COMPANIES:
        company = BillingCompany.objects.filter(code=data["code"]).first() or BillingCompany()
        for name, value in data.items():
            # Signatures are stored as the editor writes them (HTML), their lines kept.
            setattr(company, name, richtext.text_html(value) if name in SIGNATURE_FIELDS else value)
        company.full_clean()
        company.save()
        SendingProfile.objects.update_or_create(
            billing_company=company,
            defaults=_catcher_profile(
                smtp_port=smtp_port,
                from_name=str(company),
                from_address=company.email,
            ),
        )
        by_code[company.code] = company
    return by_code


def _seed_clients(
    *, collaborators: dict[str, Collaborator], companies: dict[str, BillingCompany]
) -> None:
    for data in CLIENTS:
        client = Client.objects.filter(number=data.number).first() or Client(number=data.number)
        client.kind = data.kind
        client.name = data.name
        client.legal_form = data.legal_form
        client.enterprise_number = data.enterprise_number
        client.vat_number = "BE" + data.enterprise_number.replace(".", "") if data.vat else ""
        client.language = data.language
        client.contact_name = data.contact_name
        client.salutation = data.salutation
        client.street = data.street
        client.postal_code = data.postal_code
        client.city = data.city
        client.country = data.country
        client.phone = data.phone
        client.invoice_channel = data.invoice_channel
        client.peppol_courtesy_copy = data.courtesy_copy
        client.billing_company = companies[data.billing_company]
        client.responsible = collaborators[data.responsible]
        client.active = True
        client.full_clean()
        client.save()
        for position, (address, purpose) in enumerate(data.emails):
            ClientEmail.objects.update_or_create(
                client=client,
                address=address,
                defaults={"purpose": purpose, "position": position},
            )


def _seed_access_point(*, companies: dict[str, BillingCompany], peppol_port: int) -> None:
    """The Peppol company's access point: the demo's, on 127.0.0.1:`peppol_port`, speaking
    Billit's API with the demo access point's credentials; its webhook known in advance."""
    company = companies[PEPPOL_COMPANY]
    SendingProfile.objects.update_or_create(
        peppol_company=company,
        defaults={
            "method": SendingProfile.Method.BILLIT,
            "api_key": DEMO_BILLIT_KEY,
            "peppol_account": DEMO_BILLIT_PARTY,
            "api_base_url": f"http://127.0.0.1:{peppol_port}",
            "from_name": str(company),
            "from_address": company.email,
            "webhook_token": DEMO_WEBHOOK_TOKEN,
            "webhook_secret": DEMO_WEBHOOK_SECRET,
            "state": SendingProfile.State.OK,
            "state_reason": "",
        },
    )


def peppol_participants() -> list[str]:
    """The Peppol identifiers the demo's access point knows: every demo client with a Belgian
    enterprise number (any of them may be switched to Peppol in its file)."""
    return [
        peppol_id_of_company(data.enterprise_number)
        for data in CLIENTS
        if data.enterprise_number and data.country == "BE"
    ]


def _seed_templates() -> None:
    for name, versions in TEMPLATES.items():
        template_ensure(
            name=name, context=MailTemplate.Context.CLIENT, versions=versions, overwrite=True
        )


# Tags that show what a firm files its clients under; a client may carry several.
TAGS: dict[str, tuple[str, list[str]]] = {
    "Horeca": (Tag.Colour.ORANGE, ["C0004", "C0021"]),
    "Médical": (Tag.Colour.TEAL, ["C0002", "C0013", "C0020"]),
    "Artisans": (Tag.Colour.GREEN, ["C0001", "C0011", "C0014", "C0018", "C0026"]),
    "VIP": (Tag.Colour.PURPLE, ["C0008", "C0010", "C0019", "C0021"]),
}

# Standard phrases ("Texte"), one version per mail language.
PHRASES: dict[str, dict[str, str]] = {
    # The deadline is asked when the phrase is inserted ({?date:...}), not today's date.
    "Documents manquants": {
        "fr": "Pourriez-vous nous faire parvenir les documents manquants avant le "
        "{?date:date limite} ?",
        "nl": "Kunt u ons de ontbrekende documenten bezorgen vóór {?datum:uiterste datum}?",
        "de": "Könnten Sie uns die fehlenden Unterlagen bis zum {?datum:Frist} zukommen lassen?",
        "en": "Could you send us the missing documents before {?date:deadline}?",
    },
    "Disponible pour un rendez-vous": {
        "fr": "{RESPONSABLE} reste à votre disposition pour un rendez-vous au {CABINET_TEL}.",
        "nl": "{RESPONSABLE} staat tot uw beschikking voor een afspraak op {CABINET_TEL}.",
        "de": "{RESPONSABLE} steht Ihnen unter {CABINET_TEL} gerne für einen Termin zur Verfügung.",
        "en": "{RESPONSABLE} is happy to meet you; please call {CABINET_TEL}.",
    },
    "Accusé de réception des pièces": {
        "fr": "Nous avons bien reçu vos pièces et nous vous en remercions.",
        "nl": "Wij hebben uw stukken goed ontvangen en danken u daarvoor.",
        "de": "Wir haben Ihre Unterlagen erhalten und danken Ihnen dafür.",
        "en": "We have received your documents, thank you.",
    },
}


def _seed_tags() -> None:
    for name, (colour, numbers) in TAGS.items():
        tag, _created = Tag.objects.get_or_create(name=name, defaults={"colour": colour})
        for client in Client.objects.filter(number__in=numbers):
            client.tags.add(tag)


def _seed_phrases() -> None:
    for name, versions in PHRASES.items():
        phrase = Phrase.objects.filter(name=name, owner__isnull=True).first() or Phrase(name=name)
        phrase.save()
        for language, text in versions.items():
            PhraseVersion.objects.update_or_create(
                phrase=phrase, language=language, defaults={"text": body_html(text)}
            )


def _seed_selection(collaborators: dict[str, Collaborator]) -> None:
    owner = next(c for c in collaborators.values() if c.language == "nl")
    ClientSelection.objects.update_or_create(
        owner=owner,
        name="Clients néerlandophones",
        defaults={"shared": True, "filters": SelectionFilters(language="nl").as_dict()},
    )


def demo_seed(
    *, smtp_port: int = DEFAULT_SMTP_PORT, peppol_port: int = DEFAULT_PEPPOL_PORT
) -> SeedReport:
    """Create or update the demo firm; running it again changes nothing but the ports of the
    SMTP catcher and of the access point."""
    with transaction.atomic():
        firm = Firm.load()
        for name, value in FIRM.items():
            setattr(firm, name, value)
        firm.full_clean()
        firm.save()
        collaborators = _seed_collaborators(smtp_port=smtp_port)
        companies = _seed_billing_companies(smtp_port=smtp_port)
        # Before the invoices: an invoice to a client on Peppol is issued to the Peppol register.
        _seed_access_point(companies=companies, peppol_port=peppol_port)
        _seed_clients(collaborators=collaborators, companies=companies)
        _seed_templates()
        _seed_tags()
        _seed_phrases()
        _seed_selection(collaborators)
        demo_clients = list(Client.objects.order_by("number"))
        for seed in (seed_invoices, seed_taxes, seed_documents):
            seed(collaborators=collaborators, companies=companies, clients=demo_clients)
    return SeedReport(
        collaborators=len(COLLABORATORS),
        billing_companies=len(BILLING_COMPANIES),
        clients=len(CLIENTS),
        templates=len(TEMPLATES),
        profiles=len(COLLABORATORS) + len(BILLING_COMPANIES) + 1,
    )
