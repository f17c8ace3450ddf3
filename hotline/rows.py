"""Plain statements on model tables, for the write paths every conversation goes through.

Django's ORM builds each query anew (lookups, joins, compiler) and that costs several times more than
SQLite takes to run the statement. The hot paths (a Telegram update, a web form submission) run a
dozen statements each, all inside the database's single writer turn, so they use these instead:
insert, update and fetch one row by equality, with the SQL text built once per shape and cached, and
values adapted and converted exactly as the ORM does (the models' own fields do it), so rows written
here and rows read by the ORM are the same. Instances come back as ``Model.from_db`` makes them
(without ``__init__``'s per-field work). The statements go to the driver directly, with Django's
error wrapping (on PostgreSQL through one driver cursor per connection, reused); through Django's
cursor only while statements are being logged (``DEBUG``, tests that count them). Reads for pages and
reports stay with the ORM.

Keys are field names or attnames (``case`` or ``case_id``); a model instance given for a relation
stands for its primary key. A list or tuple in ``where`` means ``IN``.
"""

from __future__ import annotations

import contextlib
import datetime
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.base import ModelState
from django.db.models.expressions import Col

M = TypeVar("M", bound=models.Model)
R = TypeVar("R", bound=models.Model)

Converter = Callable[[Any, Any, Any], Any]


# Field types whose value, when it is already a plain str/int/bytes/bool, goes to the driver unchanged
# (what get_db_prep_save would return anyway); everything else (dates, UUIDs, enums…) takes the field's way.
_PLAIN_TYPES = {
    "CharField",
    "TextField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "PositiveBigIntegerField",
    "BinaryField",
    "BooleanField",
    "AutoField",
    "BigAutoField",
}
_PLAIN_VALUES = (str, int, bytes, bool)


def _sqlite_utc_text(value: datetime.datetime) -> str:
    return str(value.astimezone(datetime.UTC).replace(tzinfo=None))


class _Table:
    """What a model's table needs for plain statements: columns, adapters, converters (per backend)."""

    def __init__(self, model: type[models.Model], connection: BaseDatabaseWrapper) -> None:
        self.model = model
        self.connection = connection
        self.name = self.connection.ops.quote_name(model._meta.db_table)
        self.fields: dict[str, models.Field[Any, Any]] = {}
        self.plain: set[str] = set()
        # Dates and UUIDs, the other common values: (their exact type, what the field's adapter does).
        self.fast: dict[str, tuple[type, Callable[[Any], Any]]] = {}
        ops, features = connection.ops, connection.features
        for field in model._meta.concrete_fields:
            self.fields[field.name] = field
            self.fields[field.attname] = field
            target = field.target_field if field.is_relation else field  # type: ignore[attr-defined]
            kind = type(target).__name__
            names = (field.name, field.attname)
            if kind in _PLAIN_TYPES:
                self.plain.update(names)
            elif kind == "DateTimeField" and settings.USE_TZ:
                adapt_date: Callable[[Any], Any] = ops.adapt_datetimefield_value
                if connection.vendor == "sqlite" and connection.timezone_name == "UTC":
                    adapt_date = _sqlite_utc_text  # what the backend's adapter returns, without its checks
                for name in names:
                    self.fast[name] = (datetime.datetime, adapt_date)
            elif kind == "UUIDField":
                adapt: Callable[[Any], Any] = (lambda v: v) if features.has_native_uuid_field else (lambda v: v.hex)
                for name in names:
                    self.fast[name] = (uuid.UUID, adapt)
        self.concrete = list(model._meta.concrete_fields)
        self.columns = ", ".join(self.connection.ops.quote_name(str(f.column)) for f in self.concrete)
        self.attnames = [f.attname for f in self.concrete]
        # The converters the ORM's compiler applies to each column (backend's, then the field's).
        self.cols: list[Col] = [f.get_col(model._meta.db_table) for f in self.concrete]
        self.converters: list[tuple[int, list[Converter]]] = []
        for i, col in enumerate(self.cols):
            found = list(self.connection.ops.get_db_converters(col)) + list(col.get_db_converters(self.connection))
            if found:
                self.converters.append((i, found))
        self.sql: dict[tuple[Any, ...], str] = {}

    def field(self, key: str) -> models.Field[Any, Any]:
        try:
            return self.fields[key]
        except KeyError:
            raise LookupError(f"{self.model._meta.label} has no field {key!r}") from None

    def adapt(self, key: str, value: Any) -> Any:
        if value is None or (type(value) in _PLAIN_VALUES and key in self.plain):
            return value
        fast = self.fast.get(key)
        # A naive datetime takes the field's way (which warns about it).
        naive = isinstance(value, datetime.datetime) and value.tzinfo is None
        if fast is not None and type(value) is fast[0] and not naive:
            return fast[1](value)
        field = self.field(key)
        if isinstance(value, models.Model):
            value = value.pk
        return field.get_db_prep_save(value, self.connection)

    def column(self, key: str) -> str:
        return self.connection.ops.quote_name(str(self.field(key).column))

    def where(self, where: Mapping[str, Any]) -> tuple[tuple[Any, ...], list[Any]]:
        """The shape of a condition (cache key of its SQL) and its parameters."""
        shape: list[Any] = []
        params: list[Any] = []
        for key, value in where.items():
            if isinstance(value, (list, tuple)):
                shape.append((key, len(value)))
                params.extend(self.adapt(key, v) for v in value)
            elif value is None:
                shape.append((key, None))
            else:
                shape.append(key)
                params.append(self.adapt(key, value))
        return tuple(shape), params

    def condition(self, shape: tuple[Any, ...], *, qualified: bool = False) -> str:
        prefix = f"{self.name}." if qualified else ""
        parts: list[str] = []
        for item in shape:
            if isinstance(item, str):
                parts.append(f"{prefix}{self.column(item)} = %s")
            elif item[1] is None:
                parts.append(f"{prefix}{self.column(item[0])} IS NULL")
            else:
                parts.append(f"{prefix}{self.column(item[0])} IN ({', '.join(['%s'] * item[1])})")
        return " AND ".join(parts) or "1 = 1"

    def qualified_columns(self) -> str:
        return ", ".join(f"{self.name}.{self.connection.ops.quote_name(str(f.column))}" for f in self.concrete)

    def build(self, row: Sequence[Any]) -> models.Model:
        """An instance as ``Model.from_db`` makes it, without ``__init__``'s per-field work (our models
        have no init signals; a relation's cached object is loaded on first access as usual)."""
        values = list(row)
        for i, converters in self.converters:
            for convert in converters:
                values[i] = convert(values[i], self.cols[i], self.connection)
        obj = self.model.__new__(self.model)
        obj.__dict__.update(zip(self.attnames, values, strict=True))
        state = obj._state = ModelState()
        state.adding = False
        state.db = self.connection.alias
        return obj


# One per backend and model. A table keeps the connection it was made with for what depends only on
# the backend (quoting, adapters, converters); statements run on the calling thread's own connection.
_tables: dict[tuple[str, type[models.Model]], _Table] = {}


def _table(model: type[models.Model]) -> tuple[_Table, BaseDatabaseWrapper]:
    connection = connections[DEFAULT_DB_ALIAS]
    key = (connection.vendor, model)
    table = _tables.get(key)
    if table is None:
        table = _tables[key] = _Table(model, connection)
    return table, connection


def _execute(
    connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any], *, many: bool = False, fetch: bool = False
) -> tuple[Any, int, Any]:
    """Run one statement: (first row if ``fetch``, rowcount, lastrowid).

    This goes to the driver directly, as Django's cursor would after its wrappers (the driver's
    errors raised as Django's, so a database that is down still means DatabaseError): on SQLite to
    its connection (placeholders turned into ``?``), on PostgreSQL to the connection's kept cursor
    (:func:`_driver_cursor`), or through Django's cursor while statements are logged.
    """
    if connection.vendor != "sqlite":
        if connection.queries_logged or connection.execute_wrappers:  # debugging, tests counting statements
            with connection.cursor() as wrapped:
                (wrapped.executemany if many else wrapped.execute)(sql, params)
                return (wrapped.fetchone() if fetch else None), wrapped.rowcount, getattr(wrapped, "lastrowid", None)
        cursor = _driver_cursor(connection)
        with connection.wrap_database_errors:  # the driver's errors raised as Django's
            (cursor.executemany if many else cursor.execute)(sql, params)
            return (cursor.fetchone() if fetch else None), cursor.rowcount, None
    raw = connection.connection
    if raw is None or connection.needs_rollback:
        connection.validate_no_broken_transaction()
        connection.ensure_connection()
        raw = connection.connection
    qmark = _QMARK.get(sql)
    if qmark is None:
        qmark = _QMARK[sql] = sql.replace("%s", "?")
    try:
        cursor = raw.executemany(qmark, params) if many else raw.execute(qmark, params)
        try:
            return (cursor.fetchone() if fetch else None), cursor.rowcount, cursor.lastrowid
        finally:
            cursor.close()
    except sqlite3.Error:
        with connection.wrap_database_errors:  # raised again as Django's exception of the same kind
            raise


def _driver_cursor(connection: BaseDatabaseWrapper) -> Any:
    """The driver's cursor for plain statements on this connection, made once per connection (as
    Django's ``cursor()`` makes it, with its time zone) and reused: Django's cursor wrapper, made
    anew for each statement, cost about as much as psycopg's own work on one. Checks what Django's
    cursor checks first: the connection's health (``CONN_HEALTH_CHECKS``), that it is open, and that
    the transaction is not broken."""
    if not connection.health_check_done:  # type: ignore[attr-defined]
        connection.close_if_health_check_failed()
    if connection.connection is None:
        connection.ensure_connection()
    if connection.needs_rollback:
        connection.validate_no_broken_transaction()
    raw = connection.connection
    kept = getattr(connection, "_hotline_cursor", None)
    if kept is not None and kept[0] is raw:
        return kept[1]
    with connection.wrap_database_errors:
        cursor = connection.create_cursor()
    connection._hotline_cursor = (raw, cursor)  # type: ignore[attr-defined]
    return cursor


def execute(sql: str, params: Sequence[Any] = (), *, many: bool = False, fetch: bool = False) -> tuple[Any, int, Any]:
    """Run a statement written for the hot path (``%s`` placeholders): (first row if ``fetch``,
    rowcount, lastrowid). See :func:`_execute`."""
    return _execute(connections[DEFAULT_DB_ALIAS], sql, params, many=many, fetch=fetch)


# Statement texts with SQLite's placeholders (the statements here are a few dozen shapes).
_QMARK: dict[str, str] = {}


def insert(model: type[models.Model], values: Mapping[str, Any]) -> None:
    """INSERT one row; columns left out take the database default (so give every non-null one)."""
    insert_many(model, [values])


def insert_new(model: type[models.Model], values: Mapping[str, Any], unique: Sequence[str]) -> bool:
    """INSERT one row unless one with the same ``unique`` fields exists (``ON CONFLICT … DO NOTHING``);
    True if it was inserted."""
    table, connection = _table(model)
    keys = tuple(values)
    shape = ("insert_new", keys, tuple(unique))
    sql = table.sql.get(shape)
    if sql is None:
        columns = ", ".join(table.column(k) for k in keys)
        conflict = ", ".join(table.column(k) for k in unique)
        sql = table.sql[shape] = (
            f"INSERT INTO {table.name} ({columns}) VALUES ({', '.join(['%s'] * len(keys))}) "  # noqa: S608
            f"ON CONFLICT ({conflict}) DO NOTHING"
        )
    return int(_execute(connection, sql, [table.adapt(k, values[k]) for k in keys])[1]) == 1


def insert_many(model: type[models.Model], rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT rows that all name the same columns, in one ``executemany``."""
    if not rows:
        return
    table, connection = _table(model)
    keys = tuple(rows[0])
    shape = ("insert", keys)
    sql = table.sql.get(shape)
    if sql is None:
        columns = ", ".join(table.column(k) for k in keys)
        sql = table.sql[shape] = f"INSERT INTO {table.name} ({columns}) VALUES ({', '.join(['%s'] * len(keys))})"  # noqa: S608 (model columns)
    params = [[table.adapt(k, row[k]) for k in keys] for row in rows]
    if len(params) == 1:
        _execute(connection, sql, params[0])
    else:
        _execute(connection, sql, params, many=True)


_later = threading.local()


def insert_later(model: type[models.Model], values: Mapping[str, Any]) -> None:
    """INSERT a row that nothing reads before the transaction commits (an outbox row, for one), at the
    end of the enclosing :func:`collected` block, together with the others given there; at once when
    there is none."""
    pending: list[tuple[type[models.Model], Mapping[str, Any]]] | None = getattr(_later, "rows", None)
    if pending is None:
        insert(model, values)
    else:
        pending.append((model, values))


@contextlib.contextmanager
def collected() -> Iterator[None]:
    """Around a unit of write work: the rows given to :func:`insert_later` inside it are inserted when
    it ends, in the order given, one ``executemany`` for each run of rows of the same table and
    columns (a group commit writes the whole batch's outbox rows so, instead of a statement each). If
    the block raises they are dropped, as the rest of its unit is rolled back."""
    outer = getattr(_later, "rows", None)
    pending: list[tuple[type[models.Model], Mapping[str, Any]]] = []
    _later.rows = pending
    try:
        yield
    finally:
        _later.rows = outer
    start = 0
    for end in range(1, len(pending) + 1):
        model, values = pending[start]
        if end == len(pending) or pending[end][0] is not model or pending[end][1].keys() != values.keys():
            insert_many(model, [row for _, row in pending[start:end]])
            start = end


def update(model: type[models.Model], where: Mapping[str, Any], values: Mapping[str, Any]) -> int:
    """UPDATE the rows matching ``where`` (equality); returns how many matched."""
    table, connection = _table(model)
    shape, where_params = table.where(where)
    key = ("update", tuple(values), shape)
    sql = table.sql.get(key)
    if sql is None:
        sets = ", ".join(f"{table.column(k)} = %s" for k in values)
        sql = table.sql[key] = f"UPDATE {table.name} SET {sets} WHERE {table.condition(shape)}"  # noqa: S608
    params = [table.adapt(k, v) for k, v in values.items()]
    return int(_execute(connection, sql, params + where_params)[1])


def fetch(model: type[M], where: Mapping[str, Any], *, lock: bool = False, order_by: str | None = None) -> M | None:
    """The first row matching ``where`` as a model instance, or None.

    ``lock`` takes a row lock where the database has them (``SELECT … FOR UPDATE`` on PostgreSQL; a
    SQLite write transaction already holds the whole database). ``order_by`` is a field name, with
    ``-`` for descending.
    """
    table, connection = _table(model)
    shape, params = table.where(where)
    key = ("fetch", shape, order_by, lock)
    sql = table.sql.get(key)
    if sql is None:
        order = ""
        if order_by:
            descending = order_by.startswith("-")
            order = f" ORDER BY {table.column(order_by.lstrip('-'))}{' DESC' if descending else ''}"
        suffix = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
        condition = table.condition(shape)
        sql = table.sql[key] = f"SELECT {table.columns} FROM {table.name} WHERE {condition}{order} LIMIT 1{suffix}"  # noqa: S608
    row = _execute(connection, sql, params, fetch=True)[0]
    return None if row is None else table.build(row)  # type: ignore[return-value]


def fetch_with(
    model: type[M], where: Mapping[str, Any], related: type[R], key: str, *, lock: bool = False
) -> tuple[M | None, R | None]:
    """The first row of ``model`` matching ``where`` (as :func:`fetch`), and the row of ``related``
    whose field ``key`` refers to it (None if there is none), read together in one statement.

    ``lock`` locks the ``model`` row only (``FOR UPDATE OF`` on PostgreSQL); read the related row
    this way only where that lock is what guards it.
    """
    pk = model._meta.pk
    assert pk is not None
    return _fetch_joined(model, where, related, (pk.attname, key), lock=lock, inner=False)


def fetch_both(
    model: type[M], where: Mapping[str, Any], related: type[R], key: str, *, lock: bool = False
) -> tuple[M, R] | None:
    """The first row of ``model`` matching ``where`` together with the row of ``related`` its field
    ``key`` refers to, in one statement; None if there is no such row or it refers to none.
    ``lock`` locks both rows (``FOR UPDATE`` on PostgreSQL)."""
    related_pk = related._meta.pk
    assert related_pk is not None
    found, kin = _fetch_joined(model, where, related, (key, related_pk.attname), lock=lock, inner=True)
    return None if found is None or kin is None else (found, kin)


def _fetch_joined(
    model: type[M],
    where: Mapping[str, Any],
    related: type[R],
    on: tuple[str, str],
    *,
    lock: bool,
    inner: bool,
) -> tuple[M | None, R | None]:
    table, connection = _table(model)
    other, _ = _table(related)
    shape, params = table.where(where)
    cache_key = ("joined", shape, related, on, lock, inner)
    sql = table.sql.get(cache_key)
    if sql is None:
        join = f"{other.name}.{other.column(on[1])} = {table.name}.{table.column(on[0])}"
        suffix = ""
        if lock and connection.features.has_select_for_update:
            # An outer join's related row may be missing, so only the model's row can be locked.
            suffix = " FOR UPDATE" if inner else f" FOR UPDATE OF {table.name}"
        kind = "JOIN" if inner else "LEFT JOIN"
        sql = table.sql[cache_key] = (
            f"SELECT {table.qualified_columns()}, {other.qualified_columns()} FROM {table.name} "  # noqa: S608
            f"{kind} {other.name} ON {join} WHERE {table.condition(shape, qualified=True)} LIMIT 1{suffix}"
        )
    row = _execute(connection, sql, params, fetch=True)[0]
    if row is None:
        return None, None
    split = len(table.concrete)
    found = table.build(row[:split])
    related_pk = other.attnames.index(other.model._meta.pk.attname)
    kin = None if row[split + related_pk] is None else other.build(row[split:])
    return found, kin  # type: ignore[return-value]


def add(obj: models.Model) -> None:
    """INSERT a new instance with all its fields, like ``save(force_insert=True)`` without the ORM.

    An auto-increment key left unset is assigned by the database and set on ``obj``.
    """
    model = type(obj)
    table, connection = _table(model)
    pk = model._meta.pk
    if pk is None or not isinstance(pk, models.AutoField) or obj.pk is not None:
        add_all([obj])
        return
    keys = [a for a in table.attnames if a != pk.attname]
    columns = ", ".join(table.column(k) for k in keys)
    sql = f"INSERT INTO {table.name} ({columns}) VALUES ({', '.join(['%s'] * len(keys))})"  # noqa: S608
    returning = connection.features.can_return_columns_from_insert
    if returning:
        sql += f" RETURNING {table.column(pk.attname)}"
    row, _, lastrowid = _execute(connection, sql, [table.adapt(k, getattr(obj, k)) for k in keys], fetch=returning)
    obj.pk = row[0] if returning else lastrowid
    obj._state.adding = False
    obj._state.db = connection.alias


def add_all(objs: Sequence[models.Model]) -> None:
    """INSERT new instances of one model in one ``executemany``, like ``bulk_create``.

    Auto-increment keys left unset are assigned by the database and not read back (use :func:`add`
    when the caller needs one).
    """
    if not objs:
        return
    model = type(objs[0])
    table, connection = _table(model)
    pk = model._meta.pk
    skip_pk = pk is not None and isinstance(pk, models.AutoField) and objs[0].pk is None
    keys = [a for a in table.attnames if not (skip_pk and pk is not None and a == pk.attname)]
    insert_many(model, [{k: getattr(obj, k) for k in keys} for obj in objs])
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
