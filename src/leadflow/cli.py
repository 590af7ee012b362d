"""The `leadflow` command: Django's management commands under one name.

leadflow serve | worker | migrate | demo | apikey create | user create | …
"""

import os
import sys

from django.core.management import execute_from_command_line

# Command names with a dash, for Django commands whose module names need an underscore.
ALIASES = {"ingest-email": "ingest_email", "import-errors": "import_errors"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
    args = sys.argv[1:]
    if args and args[0] in ALIASES:
        args[0] = ALIASES[args[0]]
    execute_from_command_line(["leadflow", *args])


if __name__ == "__main__":
    main()
