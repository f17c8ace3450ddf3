"""The ``hotline`` command: Django's management commands under the project's settings.

``hotline serve``, ``hotline worker``, ``hotline writer``, ``hotline setup``, ``hotline keys …``,
``hotline audit verify``, ``hotline purge`` and ``hotline backup`` are management commands of the
apps; ``hotline migrate`` and the other Django commands work too.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hotline.settings")
    # Everything the hotline writes (database, keys, backups) is for its own user only.
    os.umask(0o077)
    from django.core.management import execute_from_command_line

    args = sys.argv[1:] if argv is None else argv
    execute_from_command_line(["hotline", *args])
