"""A Peppol e-invoice checked as an access point checks it, before it leaves: the UBL 2.1
schema, then the two Schematron layers of the pinned OpenPeppol release (CEN EN 16931, then
the Peppol BIS rules), all from the unedited artifacts (`courrier.peppol.artifacts`).

Loading the layers costs about a second (two XSLTs compiled by Saxon, two schemas read by
lxml), so it happens once per process, lazily, behind a lock; a document then costs tens of
milliseconds. The Saxon processor is not shared across threads unguarded: its Python binding
drives one native (GraalVM) isolate whose thread handling is not documented as safe for
concurrent transforms, so one processor serves the process and a lock serialises its use.
Validation is short and rare (once per invoice), so the lock costs nothing that matters, and
one set of compiled stylesheets is kept instead of one per thread.

A document is parsed once by lxml for the schema; Saxon parses it once for both layers.
Each finding carries its rule's page in the Peppol documentation and, for the rules an
invoice made by Courrier can actually break, a sentence in the reader's language (`explanation`);
else the official English text.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from lxml import etree

from courrier.peppol.artifacts import artifacts_dir

RELEASE = "openpeppol-2026.5"
LAYER_XSD = "xsd"
LAYER_CEN = "cen"
LAYER_PEPPOL = "peppol"
FATAL = "fatal"
WARNING = "warning"

UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
_SVRL = "{http://purl.oclc.org/dsdl/svrl}"
_RULES_URL = "https://docs.peppol.eu/poacc/billing/3.0/rules/{folder}/{rule}/"
_RULE_ID = re.compile(r"^[A-Z][A-Z0-9-]*[0-9]$")

# The rules an invoice or credit note made by Courrier can break, said for the person who
# fixes the invoice or the client's file (in the reader's language); any other rule shows its
# official English text.
RULE_TEXTS: dict[str, Promise] = {
    "PEPPOL-EN16931-R003": _(
        "La facture doit porter la référence de l'acheteur ou un numéro de bon de commande."
    ),
    "PEPPOL-EN16931-R010": _(
        "Le client n'a pas d'adresse Peppol : indiquez son identifiant Peppol ou son numéro "
        "d'entreprise."
    ),
    "PEPPOL-EN16931-R020": _(
        "La société facturante n'a pas d'adresse Peppol : indiquez son numéro d'entreprise."
    ),
    "PEPPOL-COMMON-R043": _(
        "Un numéro d'entreprise belge (0208) compte 10 chiffres et se vérifie modulo 97."
    ),
    "PEPPOL-EN16931-R120": _(
        "Le montant d'une ligne doit égaler la quantité multipliée par le prix unitaire."
    ),
    "PEPPOL-EN16931-R121": _("La quantité de base du prix doit être positive."),
    "PEPPOL-EN16931-R040": _("Le montant d'une remise ou d'un supplément est mal calculé."),
    "PEPPOL-EN16931-R051": _("Tous les montants doivent être dans la devise de la facture."),
    "PEPPOL-EN16931-R055": _(
        "Le total TVA et le total TVA en devise comptable doivent avoir le même signe."
    ),
    "PEPPOL-EN16931-R061": _("Une domiciliation doit mentionner la référence du mandat."),
    "PEPPOL-EN16931-P0100": _("Le code du type de facture n'est pas admis par Peppol."),
    "PEPPOL-EN16931-P0101": _("Le code du type de note de crédit n'est pas admis par Peppol."),
    "BR-CO-10": _("La somme des montants des lignes doit égaler le total des lignes."),
    "BR-CO-13": _("Le total hors TVA doit égaler le total des lignes (remises et frais compris)."),
    "BR-CO-14": _("Le total TVA doit égaler la somme des montants de TVA par catégorie."),
    "BR-CO-15": _("Le total TVA comprise doit égaler le total hors TVA plus le total TVA."),
    "BR-CO-16": _("Le montant à payer doit égaler le total TVA comprise moins l'acompte versé."),
    "BR-CO-17": _(
        "La TVA d'une catégorie doit égaler sa base multipliée par son taux, arrondie au cent."
    ),
    "BR-CO-18": _("La facture doit comporter au moins un récapitulatif de TVA."),
    "BR-CO-26": _("La société facturante doit avoir un numéro de TVA ou un numéro d'entreprise."),
    "BR-S-08": _("La base d'un taux de TVA doit égaler la somme des lignes à ce taux."),
    "BR-S-02": _("Une facture avec TVA doit porter le numéro de TVA de la société facturante."),
    "BR-E-10": _("Une ligne exonérée (E) demande le motif de l'exonération sur la facture."),
    "BR-E-02": _(
        "Une facture avec une ligne exonérée doit porter le numéro de TVA de la société facturante."
    ),
    "BR-AE-02": _(
        "L'autoliquidation demande le numéro de TVA de la société facturante et le numéro de TVA "
        "ou d'entreprise du client."
    ),
    "BR-AE-10": _("L'autoliquidation demande sa mention (code VATEX-EU-AE)."),
    "BR-IC-02": _(
        "Une livraison intracommunautaire demande le numéro de TVA de la société facturante et "
        "celui du client."
    ),
    "BR-IC-10": _("Une livraison intracommunautaire demande sa mention (code VATEX-EU-IC)."),
    "BR-IC-11": _("Une livraison intracommunautaire demande la date de livraison."),
    "BR-IC-12": _("Une livraison intracommunautaire demande le pays de livraison."),
    "BR-G-02": _("Une exportation doit porter le numéro de TVA de la société facturante."),
    "BR-G-10": _("Une exportation demande sa mention (code VATEX-EU-G)."),
    "BR-O-02": _("Une facture hors du champ de la TVA ne porte aucun numéro de TVA."),
    "BR-O-11": _(
        "Une facture hors du champ de la TVA ne peut avoir de ligne d'une autre catégorie."
    ),
    "BR-O-10": _("Une opération hors du champ de la TVA demande sa mention (code VATEX-EU-O)."),
    "BR-Z-02": _(
        "Une facture avec une ligne au taux zéro doit porter le numéro de TVA de la société "
        "facturante."
    ),
    "BR-55": _("La référence à la facture corrigée doit donner son numéro."),
    "BR-61": _("Un virement demande le numéro de compte (IBAN) de la société facturante."),
    "BR-11": _("L'adresse du client doit mentionner son pays."),
    "BR-09": _("L'adresse de la société facturante doit mentionner son pays."),
    "BR-27": _("Le prix d'une ligne ne peut être négatif."),
    "BR-DEC-23": _("Le montant d'une ligne a deux décimales au plus."),
    "XSD": _("Le document ne respecte pas le schéma UBL 2.1."),
}


@dataclass(frozen=True)
class Finding:
    """One rule the document breaks (or warns about), as the validator says it."""

    layer: str  # "xsd", "cen" or "peppol"
    rule_id: str
    flag: str  # "fatal" or "warning"
    text: str  # the official text, in English
    location: str = ""  # an XPath in the document, or a line for the schema

    @property
    def fatal(self) -> bool:
        return self.flag == FATAL

    @property
    def url(self) -> str:
        """The rule's page in the Peppol BIS Billing 3.0 documentation; empty for the schema."""
        if self.layer == LAYER_XSD or not _RULE_ID.match(self.rule_id):
            return ""
        folder = "ubl-peppol" if self.layer == LAYER_PEPPOL else "ubl-tc434"
        return _RULES_URL.format(folder=folder, rule=self.rule_id)

    @property
    def explanation(self) -> str:
        """The rule in the active language where Courrier says it, else the official text."""
        known = RULE_TEXTS.get(self.rule_id)
        return str(known) if known is not None else self.text

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            layer=str(data.get("layer", "")),
            rule_id=str(data.get("rule_id", "")),
            flag=str(data.get("flag", "")),
            text=str(data.get("text", "")),
            location=str(data.get("location", "")),
        )


@dataclass(frozen=True)
class ValidationReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def fatal(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.fatal]

    @property
    def ok(self) -> bool:
        return not self.fatal

    def rule_ids(self, *, fatal_only: bool = True) -> set[str]:
        return {f.rule_id for f in (self.fatal if fatal_only else self.findings)}


def _secure_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class Validator:
    """The schema and the two Schematron layers of one release, compiled once."""

    def __init__(self, folder: Path | None = None, release: str = RELEASE) -> None:
        from saxonche import PySaxonProcessor

        folder = folder or artifacts_dir()
        xsd = folder / "ubl-2.1" / "xsd" / "maindoc"
        self._schemas = {
            UBL_INVOICE: etree.XMLSchema(etree.parse(str(xsd / "UBL-Invoice-2.1.xsd"))),
            UBL_CREDIT_NOTE: etree.XMLSchema(etree.parse(str(xsd / "UBL-CreditNote-2.1.xsd"))),
        }
        self._processor = PySaxonProcessor(license=False)
        xslt = self._processor.new_xslt30_processor()
        self._layers = [
            (layer, xslt.compile_stylesheet(stylesheet_file=str(folder / release / "xslt" / name)))
            for layer, name in (
                (LAYER_CEN, "CEN-EN16931-UBL.xslt"),
                (LAYER_PEPPOL, "PEPPOL-EN16931-UBL.xslt"),
            )
        ]
        self._lock = threading.Lock()

    def validate(self, xml: bytes) -> ValidationReport:
        """Every finding of the three layers on these bytes; a document that is not XML, or
        not a UBL invoice or credit note, gets one fatal finding and no Schematron."""
        try:
            root = etree.fromstring(xml, parser=_secure_parser())
        except etree.XMLSyntaxError as exc:
            return ValidationReport([Finding(LAYER_XSD, "XSD", FATAL, str(exc), "")])
        schema = self._schemas.get(etree.QName(root).namespace or "")
        if schema is None or etree.QName(root).localname not in ("Invoice", "CreditNote"):
            text = f"Not a UBL 2.1 Invoice or CreditNote: {root.tag}"
            return ValidationReport([Finding(LAYER_XSD, "XSD", FATAL, text, "/")])
        # Saxon reads text: the tree lxml parsed, whatever the encoding it declared.
        text = etree.tostring(root, encoding="unicode")
        with self._lock:
            findings = self._schema_findings(schema, root)
            node = self._processor.parse_xml(xml_text=text)
            outputs = [
                (layer, executable.transform_to_string(xdm_node=node))
                for layer, executable in self._layers
            ]
        for layer, svrl in outputs:
            findings.extend(_svrl_findings(layer, svrl or ""))
        return ValidationReport(findings)

    @staticmethod
    def _schema_findings(schema: etree.XMLSchema, root: etree._Element) -> list[Finding]:
        if schema.validate(root):
            return []
        return [
            Finding(LAYER_XSD, "XSD", FATAL, error.message, f"line {error.line}")
            for error in schema.error_log  # type: ignore[attr-defined]
        ]


def _svrl_findings(layer: str, svrl: str) -> list[Finding]:
    root = etree.fromstring(svrl.encode("utf-8"), parser=_secure_parser())
    findings = []
    for element in root.iter(f"{_SVRL}failed-assert", f"{_SVRL}successful-report"):
        message = " ".join("".join(element.findtext(f"{_SVRL}text") or "").split())
        rule_id = element.get("id") or ""
        # The official texts start with their id: "[BR-CO-15]-Invoice total ...".
        message = re.sub(rf"^\[{re.escape(rule_id)}\]-\s*", "", message) if rule_id else message
        findings.append(
            Finding(
                layer=layer,
                rule_id=rule_id,
                flag=element.get("flag") or FATAL,
                text=message,
                location=element.get("location") or "",
            )
        )
    return findings


_validator: Validator | None = None
_loading = threading.Lock()


def validator() -> Validator:
    """The process's validator, built on first use."""
    global _validator  # one per process, built lazily
    if _validator is None:
        with _loading:
            if _validator is None:
                _validator = Validator()
    return _validator


def validate(xml: bytes) -> ValidationReport:
    """Check a UBL invoice or credit note against the schema, EN 16931 and Peppol BIS 3."""
    return validator().validate(xml)
