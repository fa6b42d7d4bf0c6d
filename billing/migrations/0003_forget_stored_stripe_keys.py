"""Deletes the Stripe secret keys dj-stripe stored in plain text in its APIKey table.

From now on dj-stripe reads the key from settings (billing/stripe_api.py) and none is stored.
"""

from django.db import migrations

SECRET_TYPES = ["secret", "restricted"]


def forget_stored_keys(apps, schema_editor) -> None:
    APIKey = apps.get_model("djstripe", "APIKey")
    APIKey.objects.using(schema_editor.connection.alias).filter(type__in=SECRET_TYPES).delete()
    APIKey.objects.using(schema_editor.connection.alias).exclude(secret__startswith="pk_").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_receivedevent"),
        # APIKey exists from dj-stripe's first migration; see 0001 for why not its latest.
        ("djstripe", "__first__"),
    ]

    operations = [migrations.RunPython(forget_stored_keys, migrations.RunPython.noop)]
