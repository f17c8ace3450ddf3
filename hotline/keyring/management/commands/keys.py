"""``hotline keys rotate-transport`` and ``hotline keys recover``."""

from __future__ import annotations

import getpass
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from hotline.keyring import actions


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None


class Command(BaseCommand):
    help = "Manage keys: rotate the transport key; recover an admin's access with the recovery key."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser(
            "rotate-transport", help="re-encrypt channel addresses under a new transport key (stop the server first)"
        )
        recover = sub.add_parser(
            "recover", help="give an admin a new password and the organisation key, from the recovery key"
        )
        recover.add_argument("--username", required=True)
        recover.add_argument("--recovery-key-file", type=Path)
        recover.add_argument("--password-file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            actions.check_server_keys()
            if options["action"] == "rotate-transport":
                changed = actions.rotate_transport_key()
                self.stdout.write(self.style.SUCCESS(f"Transport key rotated; {changed} value(s) re-encrypted."))
            else:
                self._recover(options)
        except actions.KeyringError as exc:
            raise CommandError(str(exc)) from None

    def _recover(self, options: dict[str, Any]) -> None:
        key_file, password_file = options["recovery_key_file"], options["password_file"]
        recovery_key = _read(key_file) if key_file else getpass.getpass("Recovery key: ")
        if password_file:
            password = _read(password_file)
        else:
            password = getpass.getpass("New password: ")
            if getpass.getpass("New password again: ") != password:
                raise CommandError("the two passwords differ")
        try:
            validate_password(password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        user = actions.do_recover(options["username"], recovery_key, password)
        self.stdout.write(self.style.SUCCESS(f"{user.username} has a new password and the organisation key again."))
        self.stdout.write("Sign in with the new password and the code from the authenticator app set up before.")
