"""The migrated database holds what the models declare: a migration that drops a constraint by
accident (Django's removal of a field's index takes a one-column unique index with it on
PostgreSQL) fails here, not in production."""

import pytest
from django.apps import apps
from django.db import connection


@pytest.mark.django_db
def test_it_has_every_constraint_and_index_the_models_declare():
    missing = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            meta = model._meta
            if not meta.managed or meta.proxy or meta.app_label != meta.concrete_model._meta.app_label:
                continue
            declared = [*meta.constraints, *meta.indexes]
            if not declared:
                continue
            found = connection.introspection.get_constraints(cursor, meta.db_table)
            missing += [f"{meta.db_table}.{item.name}" for item in declared if item.name not in found]
    assert missing == []
