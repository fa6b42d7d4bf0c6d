"""Reading querysets of a few fixed shapes with SQL that Django compiled once per shape.

Django compiles a queryset's SQL each time it is read: the select list with every subquery in
it, the joins, the order. For the campaign list's page that was 0.6 ms of CPU a request, more
than PostgreSQL took to plan and run the query. ``CompiledShapes.rows`` compiles only the WHERE
clause each time, which holds the request's values (the workspace among them), and takes the
rest of the statement from the first query of the same shape; the rows are built as Django's
ModelIterable builds them (through ``raw()`` the page took 0.1 ms more).

``rows``, ``updated_rows``, ``update_row``, ``update_rows`` and ``insert_row`` are the same for
the few reads and one-row writes of a run's hot path (bench/README.md, ``execution_publish_overhead_ms``):
``filter(pk=…).update(…)`` builds and compiles a query each time, 0.4 ms of CPU on a slow host
against 0.17 for the statement written out; reading a run with its campaign and workspace
through ``select_related`` took 1.1 ms. On PostgreSQL the writes and ``updated_rows`` can send
several statements as one query, one round trip and one transaction.
"""

import weakref
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cache
from typing import Any, Generic, NamedTuple, TypeVar

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Model, QuerySet
from django.db.models.sql import InsertQuery

M = TypeVar("M", bound=Model)


class Of(NamedTuple):
    """A value for ``rows()``'s ``where`` read from another row by the same statement: ``field``
    of ``model``'s row ``pk`` (the campaign of a run, say, to read the campaign's images with the
    run in one round trip)."""

    model: type[Model]
    pk: Any
    field: str
# Shapes kept per instance. Numbered pages put their OFFSET in the text of a subquery, so a
# caller could make shapes without end; past this many, new ones are read the usual way.
MAX_SHAPES = 200


class CompiledShapes(Generic[M]):
    """The SQL of querysets derived from ``base``, one statement per shape, kept for the process.

    A shape is what a derived queryset may change besides its values: the WHERE clause's text,
    the order, the slice, the deferred fields and the joins. The select list is ``base``'s, so
    every queryset read through one instance must be derived from ``base`` (a check refuses
    another model or other annotations). A shape whose statement has values outside the WHERE clause is read the usual way.
    """

    def __init__(self, base: QuerySet[M]) -> None:
        self.base = base
        # shape -> its statement; None for a shape read the usual way.
        self._statements: dict[tuple, _Statement | None] = {}

    def rows(self, queryset: QuerySet[M]) -> list[M]:
        """The queryset's rows as model instances, with its annotations, as ``list(queryset)`` gives them."""
        query = queryset.query
        if query.model is not self.base.model or query.annotations.keys() != self.base.query.annotations.keys():
            raise ValueError("CompiledShapes reads only querysets derived from its base")
        connection = connections[queryset.db]
        try:
            where, params = query.get_compiler(connection=connection).compile(query.where)
        except (EmptyResultSet, FullResultSet):
            return list(queryset)
        shape = (
            connection.alias,
            where,
            query.order_by,
            query.standard_ordering,
            query.low_mark,
            query.high_mark,
            frozenset(query.deferred_loading[0]),
            query.deferred_loading[1],
            tuple(query.alias_map),
        )
        if shape not in self._statements and len(self._statements) < MAX_SHAPES:
            self._statements[shape] = _Statement.compile(queryset, params)
        statement = self._statements.get(shape)
        if statement is None:
            return list(queryset)
        return statement.read(queryset.db, params)


@dataclass(frozen=True)
class _Statement:
    """A compiled SELECT and what Django's ModelIterable reads off its compiler to build the rows."""

    sql: str
    model: type[Model]
    columns: tuple  # the select list's expressions, for their converters
    fields: tuple[str, ...]  # the model's attributes, columns ``start`` to ``end``
    start: int
    end: int
    annotations: tuple[tuple[str, int], ...]  # (name, column)

    @classmethod
    def compile(cls, queryset: QuerySet, params: tuple) -> "_Statement | None":
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, all_params = compiler.as_sql()
        # Only a statement whose values all sit in its WHERE clause can take another request's values;
        # select_related rows are read the usual way.
        if tuple(all_params) != tuple(params) or compiler.klass_info is None or compiler.klass_info.get("related_klass_infos"):
            return None
        select_fields = compiler.klass_info["select_fields"]
        start, end = select_fields[0], select_fields[-1] + 1
        return cls(
            sql=sql,
            model=compiler.klass_info["model"],
            columns=tuple(column for column, _, _ in compiler.select[: compiler.col_count]),
            fields=tuple(column.target.attname for column, _, _ in compiler.select[start:end]),
            start=start,
            end=end,
            annotations=tuple(compiler.annotation_col_map.items()),
        )

    def read(self, db: str, params: tuple) -> list[Model]:
        """The rows as ModelIterable builds them: values converted, then ``from_db`` and the annotations."""
        connection = connections[db]
        # Found with this thread's connection, as each query's compiler does.
        converters = _converters(connection, self.columns)
        rows = []
        for values in _fetched(connection, self.sql, params, converters):
            row = self.model.from_db(db, self.fields, values[self.start : self.end])
            for name, position in self.annotations:
                setattr(row, name, values[position])
            rows.append(row)
        return rows


def _converters(connection, columns) -> list[tuple]:
    """(position, column, functions) for each selected column that has converters."""
    return [
        (position, column, functions)
        for position, column in enumerate(columns)
        if (functions := connection.ops.get_db_converters(column) + column.get_db_converters(connection))
    ]


def _fetched(connection, sql: str, params, converters: list[tuple]) -> list:
    """The statement's rows, each value passed through its column's converters."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    return _converted(connection, fetched, converters)


def _converted(connection, fetched: list, converters: list[tuple]) -> list:
    """Fetched rows with each value passed through its column's converters."""
    if not converters:
        return fetched
    rows = []
    for values in fetched:
        values = list(values)
        for position, column, functions in converters:
            value = values[position]
            for function in functions:
                value = function(value, column, connection)
            values[position] = value
        rows.append(values)
    return rows


def update_row(
    model: type[Model],
    pk: Any,
    fields: dict[str, Any],
    *,
    where: dict[str, Any] | None = None,
    condition: tuple[str, list] = ("", []),
    first: list[tuple[type[Model], Any, dict[str, Any]]] = (),
    using: str = DEFAULT_DB_ALIAS,
) -> int:
    """``model.objects.filter(pk=pk, **where).update(**fields)``, its SQL written from the fields.

    For plain values only (no F() or other expressions): each is prepared for the database as
    ``update()`` prepares it (``get_db_prep_save``: JSON, time zones, encrypted fields). ``where``:
    more conditions on the row, a column equal to a value or, for a list, tuple or set, in it.
    ``condition``: one more, as SQL with its parameters (a subquery on another table, say).
    ``first``: updates ``(model, pk, fields)`` made before it, whether or not this row is then
    updated, in the same transaction (on PostgreSQL in the same round trip, as ``update_rows``).
    Returns the number of rows updated (0 or 1).
    """
    connection = connections[using]
    where = where or {}
    if any(_many(value) and not value for value in where.values()):
        update_rows(list(first), using=using)
        return 0  # in an empty list: no row, as the ORM finds
    conditions = tuple((name, len(value) if _many(value) else 0) for name, value in where.items())
    sql = _update_sql(model, tuple(fields), conditions, using)
    params = [_prepared(model, name, value, connection) for name, value in fields.items()]
    params.append(model._meta.pk.get_db_prep_value(pk, connection))
    for name, value in where.items():
        for item in value if _many(value) else [value]:
            params.append(_prepared(model, name, item, connection))
    if condition[0]:
        sql = f"{sql} AND ({condition[0]})"
        params.extend(condition[1])
    if not first:
        with transaction.mark_for_rollback_on_error(using=using), connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount
    if not _takes_several_statements(connection):
        with transaction.atomic(using=using, savepoint=False):
            update_rows(list(first), using=using)
            return update_row(model, pk, fields, where=where, condition=condition, using=using)
    statements, first_params = _update_statements(list(first), connection, using)
    with transaction.mark_for_rollback_on_error(using=using), connection.cursor() as cursor:
        cursor.execute("; ".join([*statements, sql]), [*first_params, *params])
        while cursor.nextset():  # to this row's count, the last result
            pass
        return cursor.rowcount


def update_rows(updates: list[tuple[type[Model], Any, dict[str, Any]]], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Several ``update_row(model, pk, fields)`` in one transaction, on PostgreSQL in one round trip.

    PostgreSQL runs the statements sent as one query string as one transaction (or as part of
    the one already open): one round trip and one commit instead of BEGIN, each UPDATE and
    COMMIT. Elsewhere they run one by one inside ``atomic()``.
    """
    if len(updates) <= 1:
        for model, pk, fields in updates:
            update_row(model, pk, fields, using=using)
        return
    connection = connections[using]
    if not _takes_several_statements(connection):
        with transaction.atomic(using=using, savepoint=False):
            for model, pk, fields in updates:
                update_row(model, pk, fields, using=using)
        return
    statements, params = _update_statements(updates, connection, using)
    with transaction.mark_for_rollback_on_error(using=using), connection.cursor() as cursor:
        # Values are merged into the text on the client (Django's psycopg cursors are client-side
        # binding), which lets several statements go in one simple query.
        cursor.execute("; ".join(statements), params)


def insert_row(instance: Model, *, first: list[tuple[type[Model], Any, dict[str, Any]]] = (), using: str = DEFAULT_DB_ALIAS) -> None:
    """``instance.save(force_insert=True)`` without its signals, after the updates ``first``
    (``(model, pk, fields)``), in one transaction: on PostgreSQL in one round trip. The
    statement is Django's own (fields' ``pre_save``, values prepared as ``save()`` prepares them);
    the instance gets its primary key back, as from ``save()``."""
    connection = connections[using]
    if not first:
        instance.save(force_insert=True, using=using)
        return
    if not _takes_several_statements(connection):
        with transaction.atomic(using=using, savepoint=False):
            update_rows(list(first), using=using)
            instance.save(force_insert=True, using=using)
        return
    meta = instance._meta
    fields = [field for field in meta.concrete_fields if not (field.primary_key and getattr(instance, field.attname) is None)]
    query = InsertQuery(type(instance))
    query.insert_values(fields, [instance])
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = [meta.pk]
    [(insert_sql, insert_params)] = compiler.as_sql()
    statements, params = _update_statements(list(first), connection, using)
    with transaction.mark_for_rollback_on_error(using=using), connection.cursor() as cursor:
        cursor.execute("; ".join([*statements, insert_sql]), [*params, *insert_params])
        while cursor.nextset():  # to the INSERT's result, the last
            pass
        [pk] = cursor.fetchone()
    setattr(instance, meta.pk.attname, pk)
    instance._state.adding = False
    instance._state.db = using


def _update_statements(updates: list[tuple[type[Model], Any, dict[str, Any]]], connection, using: str) -> tuple[list[str], list]:
    """The statements of ``update_row(model, pk, fields)`` for each update, and their values in order."""
    statements, params = [], []
    for model, pk, fields in updates:
        statements.append(_update_sql(model, tuple(fields), (), using))
        params.extend(_prepared(model, name, value, connection) for name, value in fields.items())
        params.append(model._meta.pk.get_db_prep_value(pk, connection))
    return statements, params


def _many(value: Any) -> bool:
    return isinstance(value, (list, tuple, set, frozenset))


def _prepared(model: type[Model], name: str, value: Any, connection, *, lookup: bool = False) -> Any:
    """``value`` for the database, as the ORM prepares it for an UPDATE or (``lookup``) an exact lookup."""
    if hasattr(value, "resolve_expression"):
        raise TypeError(f"plain values only, not {value!r}: use a QuerySet")
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if hasattr(value, "_meta") and hasattr(value, "pk"):  # a model instance for a foreign key
        value = value.pk if lookup else value.prepare_database_save(field)
    if lookup:
        return field.get_db_prep_value(field.get_prep_value(value), connection=connection, prepared=True)
    return field.get_db_prep_save(value, connection=connection)


@cache
def _update_sql(model: type[Model], names: tuple[str, ...], conditions: tuple[tuple[str, int], ...], using: str) -> str:
    """The statement's text, the same for every call with the same fields; ``conditions``: (name,
    how many values it must be in, or 0 for one value it must equal)."""
    quote = connections[using].ops.quote_name
    meta = model._meta
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in names)
    tests = [f"{quote(meta.pk.column)} = %s"]
    for name, count in conditions:
        column = quote(meta.get_field(name).column)
        tests.append(f"{column} IN ({', '.join(['%s'] * count)})" if count else f"{column} = %s")
    return f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {' AND '.join(tests)}"


def rows(
    model: type[M],
    where: dict[str, Any],
    *,
    order_by: tuple[str, ...] = (),
    related: tuple[str, ...] = (),
    lock: bool = False,
    using: str = DEFAULT_DB_ALIAS,
) -> list[M]:
    """``list(model.objects.filter(**where).select_related(*related).order_by(*order_by))``, its
    SQL written from the model once per shape, the rows built as the ORM builds them.

    ``where``: columns equal to values (``"pk"`` for the primary key), or to another row's (``Of``). ``related``: foreign keys
    of ``model`` read in the same statement. ``order_by``: field names, ``-`` for descending.
    ``lock``: ``select_for_update(of=("self",))``, where the database has it.
    """
    connection = connections[using]
    statement = _select_sql(model, _where_names(where), order_by, related, lock, "", using)
    params = _where_params(model, where, connection)
    return _built(statement, _fetched(connection, statement.sql, params, _statement_converters(statement, connection)), using)


def updated_rows(
    update_sql: str,
    update_params: list,
    model: type[M],
    where: dict[str, Any],
    *,
    related: tuple[str, ...] = (),
    then: tuple[tuple[type[Model], dict[str, Any], tuple[str, ...]], ...] = (),
    using: str = DEFAULT_DB_ALIAS,
) -> tuple[list[M], list[list[Model]]]:
    """An UPDATE of ``model``'s table, the rows it changed (``where`` names them) read with
    their ``related`` rows as ``rows()`` reads them, and the reads ``then`` asks for
    (``(model, where, order_by)``, seeing the update), each as ``rows()`` gives them.

    On PostgreSQL in one round trip and one transaction: the UPDATE is a WITH query whose
    ``RETURNING *`` stands for the table in the first read, the other reads follow in the same
    query. Elsewhere one after the other, the reads only if the UPDATE changed a row. The
    changed rows are empty when the UPDATE changed none (the other reads may still be made).
    """
    connection = connections[using]
    first = _select_sql(model, _where_names(where), (), related, False, "updated", using)
    reads = [(first, _where_params(model, where, connection))]
    for other, other_where, order_by in then:
        reads.append((_select_sql(other, _where_names(other_where), order_by, (), False, "", using), _where_params(other, other_where, connection)))
    if not _takes_several_statements(connection):
        with transaction.mark_for_rollback_on_error(using=using), connection.cursor() as cursor:
            cursor.execute(update_sql, update_params)
            changed = cursor.rowcount
        if not changed:
            return [], [[] for _ in then]
        found = [rows(model, where, related=related, using=using)]
        found += [rows(other, other_where, order_by=order_by, using=using) for other, other_where, order_by in then]
        return found[0], found[1:]
    sql = f"WITH updated AS ({update_sql} RETURNING *) " + "; ".join(statement.sql for statement, _ in reads)
    params = [*update_params, *(value for _, values in reads for value in values)]
    results = []
    with transaction.mark_for_rollback_on_error(using=using), connection.cursor() as cursor:
        # Several statements in one query: Django's psycopg cursors bind values on the client.
        cursor.execute(sql, params)
        results.append(cursor.fetchall())
        while cursor.nextset():
            results.append(cursor.fetchall())
    found = [
        _built(statement, _converted(connection, fetched, _statement_converters(statement, connection)), using)
        for (statement, _), fetched in zip(reads, results, strict=True)
    ]
    return found[0], found[1:]


def _takes_several_statements(connection) -> bool:
    """Whether one query string may hold several statements, run as one transaction: PostgreSQL
    with values bound on the client (Django's psycopg cursors, unless ``server_side_binding``)."""
    return connection.vendor == "postgresql" and connection.settings_dict["OPTIONS"].get("server_side_binding") is not True


def _where_names(where: dict[str, Any]) -> tuple:
    """The shape of ``where`` for ``_select_sql``: each name, or (name, model, field) for an ``Of`` value."""
    return tuple((name, value.model, value.field) if isinstance(value, Of) else name for name, value in where.items())


def _where_params(model: type[Model], where: dict[str, Any], connection) -> list:
    return [
        value.model._meta.pk.get_db_prep_value(value.pk, connection)
        if isinstance(value, Of)
        else _prepared(model, name, value, connection, lookup=True)
        for name, value in where.items()
    ]


def _statement_converters(statement: "_Select", connection) -> list[tuple]:
    converters = statement.converters.get(connection)
    if converters is None:
        # Found once per connection (some are its own methods), as each query's compiler finds them.
        converters = statement.converters[connection] = _converters(connection, statement.columns)
    return converters


def _built(statement: "_Select", fetched: list, using: str) -> list:
    """Model instances from a statement's converted rows, as ``select_related`` builds them."""
    found = []
    for values in fetched:
        first, names, start, end, _ = statement.parts[0]
        row = first.from_db(using, names, values[start:end])
        for other, names, start, end, field in statement.parts[1:]:
            own = values[start:end]
            # A null foreign key found no row: its columns all came back NULL.
            field.set_cached_value(row, None if own[other._meta.concrete_fields.index(other._meta.pk)] is None else other.from_db(using, names, own))
        found.append(row)
    return found


@dataclass(frozen=True)
class _Select:
    sql: str
    columns: tuple  # every selected column as a Col, for its converters
    parts: tuple  # (model, attnames, first column, end, foreign key or None), the read model first
    # connection -> the converters of the columns that have any: (position, column, functions)
    converters: weakref.WeakKeyDictionary = dataclass_field(default_factory=weakref.WeakKeyDictionary, compare=False)


@cache
def _select_sql(
    model: type[Model], names: tuple, order_by: tuple[str, ...], related: tuple[str, ...], lock: bool, with_query: str, using: str
) -> _Select:
    """``with_query``: a WITH query read in place of the model's table (under the table's name), or ""."""
    connection = connections[using]
    quote = connection.ops.quote_name
    meta = model._meta
    table = meta.db_table
    sources: list[tuple[type[Model], str, Any]] = [(model, table, None)]
    joins = []
    for number, name in enumerate(related):
        field = meta.get_field(name)
        alias = f"r{number}"
        kind = "LEFT OUTER JOIN" if field.null else "INNER JOIN"
        target = field.related_model._meta
        joins.append(
            f" {kind} {quote(target.db_table)} {quote(alias)} ON {quote(alias)}.{quote(field.target_field.column)} = {quote(table)}.{quote(field.column)}"
        )
        sources.append((field.related_model, alias, field))
    select, columns, parts = [], [], []
    for source, alias, field in sources:
        fields = source._meta.concrete_fields
        start = len(columns)
        for own in fields:
            select.append(f"{quote(alias)}.{quote(own.column)}")
            columns.append(own.get_col(alias))
        parts.append((source, tuple(own.attname for own in fields), start, len(columns), field))
    tests = []
    for name in names:
        value = "%s"
        if isinstance(name, tuple):  # an Of value: a column of another row
            name, other, other_field = name
            other = other._meta
            value = f"(SELECT {quote(other.get_field(other_field).column)} FROM {quote(other.db_table)} WHERE {quote(other.pk.column)} = %s)"
        tests.append(f"{quote(table)}.{quote((meta.pk if name == 'pk' else meta.get_field(name)).column)} = {value}")
    origin = f"{quote(with_query)} AS {quote(table)}" if with_query else quote(table)
    sql = f"SELECT {', '.join(select)} FROM {origin}{''.join(joins)}"
    if tests:
        sql += f" WHERE {' AND '.join(tests)}"
    if order_by:
        terms = [f"{quote(table)}.{quote(meta.get_field(name.lstrip('-')).column)}{' DESC' if name.startswith('-') else ' ASC'}" for name in order_by]
        sql += f" ORDER BY {', '.join(terms)}"
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
        if related and connection.features.has_select_for_update_of:
            sql += f" OF {quote(table)}"
    return _Select(sql=sql, columns=tuple(columns), parts=tuple(parts))
