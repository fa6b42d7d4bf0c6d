"""Trigram indexes for the campaign list's search, on PostgreSQL.

The search is Django's ``icontains``, which PostgreSQL runs as ``UPPER(col::text) LIKE UPPER(%s)``;
GIN indexes over those very expressions let it find matches without reading every campaign of the
workspace. SQLite has no such index and searches as before. A database that refuses the pg_trgm
extension keeps working without the indexes, only slower to search.
"""

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)

INDEXES = {
    "campaign_name_search_trgm": "name",
    "campaign_caption_search_trgm": "caption",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError:
        logger.warning("pg_trgm is not available: campaign search works without its indexes, more slowly")
        return
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON campaigns_campaign USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0002_schedule")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
