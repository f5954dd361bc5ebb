"""Dutch as written in Belgium: 27/11/2026 (Django's "nl" writes the Netherlands' 27-11-2026).

Only what differs is set here; Django's own "nl" formats give the rest.
"""

SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
