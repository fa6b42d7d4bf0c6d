"""Reading querysets of a few fixed shapes with SQL that Django compiled once per shape.

Django compiles a queryset's SQL each time it is read: the select list with every subquery in
it, the joins, the order. For the campaign list's page that was 0.6 ms of CPU a request, more
than PostgreSQL took to plan and run the query. ``CompiledShapes.rows`` compiles only the WHERE
clause each time, which holds the request's values (the workspace among them), and takes the
rest of the statement from the first query of the same shape.
"""

from typing import Generic, TypeVar

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)
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
        # shape -> (SQL, {annotation: its converters}); None for a shape read the usual way.
        self._statements: dict[tuple, tuple[str, dict] | None] = {}

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
            self._statements[shape] = self._compile(queryset, params)
        statement = self._statements.get(shape)
        if statement is None:
            return list(queryset)
        sql, converters = statement
        rows = list(queryset.model._default_manager.db_manager(queryset.db).raw(sql, params))
        # raw() converts the model's columns only; an annotation (a datetime on SQLite) needs its own.
        for name, (expression, functions) in converters.items():
            for row in rows:
                value = getattr(row, name)
                for function in functions:
                    value = function(value, expression, connection)
                setattr(row, name, value)
        return rows

    def _compile(self, queryset: QuerySet[M], params: tuple) -> tuple[str, dict] | None:
        connection = connections[queryset.db]
        sql, all_params = queryset.query.get_compiler(connection=connection).as_sql()
        # Only a statement whose values all sit in its WHERE clause can take another request's values.
        if tuple(all_params) != tuple(params):
            return None
        converters = {}
        for name, expression in queryset.query.annotation_select.items():
            functions = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
            if functions:
                converters[name] = (expression, functions)
        return sql, converters
