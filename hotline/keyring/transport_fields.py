"""Fields encrypted under the transport key, in one list, so rotation cannot miss one.

A value is bound to its table, field and row id; :func:`seal_field` and :func:`open_field` are the
only way code reads or writes such a field.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import models

from hotline.core import crypto
from hotline.keyring import server_keys

# (app label.Model, field name). Add new transport-encrypted fields here.
TRANSPORT_FIELDS: list[tuple[str, str]] = [
    ("cases.ChannelIdentity", "address_enc"),
]


@dataclass(frozen=True)
class TransportField:
    model: type[models.Model]
    name: str

    def aad(self, pk: object) -> bytes:
        return crypto.associated_data(self.model._meta.db_table, self.name, pk)


def registered_fields() -> list[TransportField]:
    return [TransportField(apps.get_model(label), name) for label, name in TRANSPORT_FIELDS]


def _aad(instance: models.Model, name: str) -> bytes:
    if (type(instance)._meta.label, name) not in TRANSPORT_FIELDS:
        raise LookupError(f"{type(instance)._meta.label}.{name} is not a registered transport field")
    return crypto.associated_data(instance._meta.db_table, name, instance.pk)


def seal_field(instance: models.Model, name: str, plaintext: str) -> bytes:
    return server_keys.get().transport_encrypt(plaintext.encode(), _aad(instance, name))


def open_field(instance: models.Model, name: str) -> str:
    blob = getattr(instance, name)
    return server_keys.get().transport_decrypt(bytes(blob), _aad(instance, name)).decode()
