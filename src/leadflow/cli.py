"""The `leadflow` command: Django's management commands under one name.

leadflow serve | worker | migrate | demo | apikey create | user create | …
"""

import os
import sys

from django.core.management import execute_from_command_line


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
    execute_from_command_line(["leadflow", *sys.argv[1:]])


if __name__ == "__main__":
    main()
