"""Peppol access points: the small interface Courrier needs of one, and one module per API."""
