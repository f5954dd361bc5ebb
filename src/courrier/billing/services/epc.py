"""The EPC payment QR code (EPC069-12, version 002) printed on an invoice.

A banking app scans it and fills in a SEPA credit transfer. The payload is twelve lines:

    BCD / 002 / 1 (UTF-8) / SCT / BIC / beneficiary name / IBAN / EUR<amount> / purpose /
    structured remittance reference / unstructured remittance text / information

The specification allows either a structured reference (field 10) or a free text (field 11),
never both. The Belgian structured communication is a structured creditor reference of the
Belgian banks (the "BBA" scheme of SEPA's structured remittance), and Belgian banking apps
read its 12 digits from the reference field; we put it there, digits only, and leave the free
text empty. A credit note, or an invoice with nothing to pay, gets no code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import segno

MAX_AMOUNT = Decimal("999999999.99")
_MASK = 4
_SCALE = 4  # SVG units per module
_DARK_RUN = re.compile(rb"[^\x00]+")


@dataclass(frozen=True)
class EpcPayment:
    bic: str
    name: str
    iban: str
    amount: Decimal
    reference: str = ""  # the structured communication's 12 digits
    text: str = ""  # free text, only without a reference
    purpose: str = ""

    def payload(self) -> str:
        """The EPC069-12 text (LF separated, no trailing empty lines)."""
        if self.reference and self.text:
            raise ValueError("An EPC QR code carries a reference or a text, not both.")
        if not Decimal("0.01") <= self.amount <= MAX_AMOUNT:
            raise ValueError(f"EPC amount out of range: {self.amount}.")
        iban = self.iban.replace(" ", "").upper()
        fields = [
            "BCD",
            "002",
            "1",
            "SCT",
            self.bic.replace(" ", "").upper(),
            self.name[:70],
            iban,
            f"EUR{self.amount.quantize(Decimal('0.01'))}",
            self.purpose[:4],
            self.reference[:35],
            self.text[:140],
        ]
        while fields and not fields[-1]:
            fields.pop()
        return "\n".join(fields)


def epc_svg(payment: EpcPayment) -> str:
    """The QR code as an SVG document (error correction M, as the specification requires)."""
    # A fixed mask: any of the eight is valid, and choosing the "best" one costs ~8 ms, more
    # than the whole PDF; the code is printed large with error correction M.
    qr = segno.make_qr(
        payment.payload(), error="m", boost_error=False, encoding="utf-8", mask=_MASK
    )
    return qr_svg(qr.matrix)


def qr_svg(matrix: tuple[bytearray, ...]) -> str:
    """A QR matrix as one SVG path, a stroke per run of dark modules (what segno's SVG writer
    draws, written in a fraction of its time): no quiet zone, the layout leaves white room."""
    size = len(matrix) * _SCALE
    path = "".join(
        f"M{run.start()} {y}.5h{run.end() - run.start()}"
        for y, row in enumerate(matrix)
        for run in _DARK_RUN.finditer(row)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}">'
        f'<path transform="scale({_SCALE})" stroke="#000" d="{path}"/></svg>'
    )
