"""Fields encrypted under the transport key, in one list, so rotation cannot miss one.

A value is bound to its table, field and row (the primary key, or another unique key set before
insert); :func:`seal_field` and :func:`open_field` are the only way code reads or writes such a field.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import models

from hotline.core import crypto
from hotline.keyring import server_keys

# (app label.Model, encrypted field, the unique field its ciphertext is bound to).
TRANSPORT_FIELDS: list[tuple[str, str, str]] = [
    ("cases.ChannelIdentity", "address_enc", "id"),
    ("outbox.OutboxMessage", "payload_enc", "ref"),
    ("flows.FlowSession", "state_enc", "id"),
    ("voice.OperatorLine", "address_enc", "id"),
    ("notify.NotificationSettings", "telegram_chat_enc", "id"),
]


@dataclass(frozen=True)
class TransportField:
    model: type[models.Model]
    name: str
    key: str

    def aad(self, key_value: object) -> bytes:
        return crypto.associated_data(self.model._meta.db_table, self.name, key_value)


def registered_fields() -> list[TransportField]:
    return [TransportField(apps.get_model(label), name, key) for label, name, key in TRANSPORT_FIELDS]


def _bound_key(model: type[models.Model], name: str) -> str:
    """The field a registered transport field's ciphertext is bound to."""
    for label, field, key in TRANSPORT_FIELDS:
        if label == model._meta.label and field == name:
            return key
    raise LookupError(f"{model._meta.label}.{name} is not a registered transport field")


def _aad(instance: models.Model, name: str) -> bytes:
    key = _bound_key(type(instance), name)
    return crypto.associated_data(instance._meta.db_table, name, getattr(instance, key))


def seal_value(model: type[models.Model], name: str, key_value: object, plaintext: str) -> bytes:
    """What :func:`seal_field` stores, for a row not built as an instance (``key_value``: its bound key)."""
    _bound_key(model, name)
    aad = crypto.associated_data(model._meta.db_table, name, key_value)
    return server_keys.get().transport_encrypt(plaintext.encode(), aad)


def seal_field(instance: models.Model, name: str, plaintext: str) -> bytes:
    return server_keys.get().transport_encrypt(plaintext.encode(), _aad(instance, name))


def open_field(instance: models.Model, name: str) -> str:
    blob = getattr(instance, name)
    return server_keys.get().transport_decrypt(bytes(blob), _aad(instance, name)).decode()
