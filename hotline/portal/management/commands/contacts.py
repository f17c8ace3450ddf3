"""``hotline contacts sign [--from FILE]`` and ``hotline contacts verify FILE``.

``sign`` reads the contacts (a JSON object: ``telegram``, ``phones``, ``onion``, ``mirrors``, each a
list) from FILE, or re-signs the published manifest, and writes ``HOTLINE_CONTACTS_FILE`` and its
``.sig``. The signing key is made on the first run (``$HOTLINE_KEYS_DIR/contacts-signing.key``).

``verify`` checks a copy of the manifest (and ``FILE.sig`` beside it) against a fingerprint — given
with ``--fingerprint``, or this installation's own key — and exits non-zero with the reason when the
copy was changed, signed by another key, or malformed.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hotline.portal import contacts


class Command(BaseCommand):
    help = "Sign or verify the manifest of official contacts."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sign = sub.add_parser("sign", help="sign the official contacts and publish them")
        sign.add_argument("--from", dest="source", type=Path, help="JSON with telegram, phones, onion, mirrors")
        verify = sub.add_parser("verify", help="check a copy of the manifest and its signature")
        verify.add_argument("file", type=Path)
        verify.add_argument("--signature", type=Path, help="the signature file (default: FILE.sig)")
        verify.add_argument("--fingerprint", help="the fingerprint to expect (default: this installation's key)")
        sub.add_parser("show", help="print the published manifest and the key fingerprint")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "sign":
            self._sign(options["source"])
        elif action == "verify":
            self._verify(options["file"], options["signature"], options["fingerprint"])
        else:
            self._show()

    def _sign(self, source: Path | None) -> None:
        path = Path(settings.HOTLINE_CONTACTS_FILE)
        read_from = source or path
        try:
            data = json.loads(read_from.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CommandError(
                f"{read_from} does not exist; give the contacts with --from FILE "
                '(e.g. {"telegram": ["@name_bot"], "phones": ["+…"], "onion": ["….onion"], "mirrors": ["…"]})'
            ) from None
        except ValueError as exc:
            raise CommandError(f"{read_from} is not JSON: {exc}") from None
        try:
            body, signature = contacts.sign(data)
        except contacts.ContactsError as exc:
            raise CommandError(f"{read_from}: {exc}") from None
        written = contacts.write(body, signature, path)
        signed = contacts.verify(body, signature, None)
        self.stdout.write(f"Signed {written} and {contacts.signature_path(written)}")
        self.stdout.write(f"Key fingerprint: {signed.fingerprint}")
        self.stdout.write("Publish this fingerprint through your other channels, so people can compare.")

    def _verify(self, file: Path, signature: Path | None, expected: str | None) -> None:
        sig_path = signature or contacts.signature_path(file)
        if expected is None:
            local = contacts.local_public_key()
            if local is None:
                raise CommandError("no fingerprint to check against: give --fingerprint (from the website or the bot)")
            expected = contacts.fingerprint(local)
        try:
            body = file.read_bytes()
            sig = sig_path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {exc.filename}: {exc.strerror}") from None
        try:
            signed = contacts.verify(body, sig, expected)
        except contacts.ContactsError as exc:
            raise CommandError(f"NOT VALID: {exc}") from None
        self.stdout.write(f"OK: {file} is signed by the key {signed.fingerprint}")
        self.stdout.write(f"Issued {signed.manifest.issued_at}")

    def _show(self) -> None:
        try:
            signed = contacts.published()
        except contacts.ContactsError as exc:
            raise CommandError(f"the published manifest is NOT VALID: {exc}") from None
        if signed is None:
            raise CommandError("no manifest has been signed yet: run `hotline contacts sign --from FILE`")
        self.stdout.write(signed.manifest_text.rstrip("\n"))
        self.stdout.write(f"Key fingerprint: {signed.fingerprint}")
