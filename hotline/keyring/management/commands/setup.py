"""``hotline setup``: create the organisation keys and the first admin, once."""

from __future__ import annotations

import getpass
import io
import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import qrcode
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from hotline.accounts.models import User
from hotline.keyring import actions


class Command(BaseCommand):
    help = "Create the organisation keys and the first administrator (password + TOTP); print the recovery key once."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--username", help="the first admin's username (asked for if missing)")
        parser.add_argument("--password-file", type=Path, help="read the password from this file instead of asking")
        parser.add_argument("--json", action="store_true", help="print the result as JSON (for automation)")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        try:
            actions.check_server_keys()
        except actions.KeyringError as exc:
            raise CommandError(str(exc)) from None
        if actions.is_set_up():
            raise CommandError("the hotline is already set up; its keys were left untouched")
        username = options["username"] or input("Username for the first administrator: ").strip()
        if not username:
            raise CommandError("a username is needed")
        password = self._password(options["password_file"], username)
        try:
            result = actions.do_setup(username, password)
        except actions.KeyringError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(
                json.dumps({"username": username, "totp_uri": result.totp_uri, "recovery_key": result.recovery_key})
            )
            return
        self._print_instructions(username, result)

    def _password(self, path: Path | None, username: str) -> str:
        if path is not None:
            try:
                password = path.read_text().rstrip("\n")
            except OSError as exc:
                raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        else:
            password = getpass.getpass("Password (at least 12 characters): ")
            if getpass.getpass("Password again: ") != password:
                raise CommandError("the two passwords differ")
        try:
            validate_password(password, User(username=username))
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        return password

    def _print_instructions(self, username: str, result: actions.SetupResult) -> None:
        qr = qrcode.QRCode(border=1)
        qr.add_data(result.totp_uri)
        buf = io.StringIO()
        qr.print_ascii(out=buf, invert=True)
        w = self.stdout.write
        w(self.style.SUCCESS(f"The organisation keys and the administrator {username!r} were created."))
        w("")
        w("1. Scan this code with an authenticator app (or enter the URI below by hand):")
        w(buf.getvalue())
        w(f"   {result.totp_uri}")
        w("")
        w("2. RECOVERY KEY. It is shown this once and stored nowhere. Write it on paper and keep it offline,")
        w("   in a safe place apart from the server. It is the only way back in if every admin password is lost:")
        w("")
        w(self.style.WARNING(f"   {result.recovery_key}"))
        w("")
        w("3. Back up the key files in the keys directory separately from database backups (docs/operations.md).")
        w("")
        w(f"4. Sign in at /console/ (on the address `hotline serve` printed) as {username!r}, with this password")
        w("   and the six digits your app shows: this account's code is needed from the first sign-in on.")
