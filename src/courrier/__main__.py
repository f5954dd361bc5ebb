"""The `courrier` command: Django's manage.py, with Courrier's settings."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courrier.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A configuration mistake deserves a sentence, not a traceback.
        sys.stderr.write(f"courrier: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
