"""Peppol e-invoicing: the official validation artifacts the project carries, and the
identifiers of the network's participants.

`artifacts/` is an exact, unedited copy of the official releases (UBL 2.1 schemas, CEN EN 16931
and OpenPeppol Schematron compiled to XSLT, the code lists), brought in by
`scripts/peppol_artifacts.py` and listed in its `MANIFEST.txt` with each file's source, commit,
hash and licence; `artifacts.py` finds them (`COURRIER_PEPPOL_ARTIFACTS` may point elsewhere)
and checks them. `identifiers.py` reads and checks a participant's identifier (`0208:` and the
enterprise number for a Belgian company).
"""
