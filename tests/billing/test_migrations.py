from django.apps import apps
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState


def test_it_matches_djstripe_models_with_the_tests_migration(db):
    """tests/djstripe_migrations stands in for dj-stripe's own; it must build the same tables."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    changes = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps)).changes(graph=loader.graph)
    assert "djstripe" not in changes
