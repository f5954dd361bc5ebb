"""The `courrier` command: Django's manage.py, with Courrier's settings."""

import os
import sys

_DASHED = {
    "send-invoices": "send_invoices",
    "peppol-status": "peppol_status",
    "peppol-lookup": "peppol_lookup",
}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courrier.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    argv = list(sys.argv)
    if len(argv) > 1 and argv[1] in _DASHED:
        # Django's command names cannot hold a dash: `courrier send-invoices` is send_invoices.
        argv[1] = _DASHED[argv[1]]
    try:
        execute_from_command_line(argv)
    except ImproperlyConfigured as exc:
        if argv[1:2] == ["generate_keys"]:
            # The keys are what the configuration lacks: print them without it.
            from courrier.keys import keys_generate

            sys.stdout.write("\n".join(keys_generate()) + "\n")
            return
        # A configuration mistake deserves a sentence, not a traceback.
        sys.stderr.write(f"courrier: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
