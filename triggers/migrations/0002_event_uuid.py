import uuid

import django.utils.timezone
from django.db import migrations, models


def give_each_event_a_uuid(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("UPDATE triggers_triggerevent SET uuid = gen_random_uuid() WHERE uuid IS NULL")
        return
    TriggerEvent = apps.get_model("triggers", "TriggerEvent")
    while events := list(TriggerEvent.objects.filter(uuid__isnull=True).only("pk")[:1000]):
        for event in events:
            event.uuid = uuid.uuid4()
        TriggerEvent.objects.bulk_update(events, ["uuid"])


class Migration(migrations.Migration):
    dependencies = [("triggers", "0001_initial")]

    operations = [
        # A unique field with a default on a table with rows: add it empty, fill it, then
        # constrain it (a default alone would give every existing row the same value).
        migrations.AddField(
            model_name="triggerevent",
            name="uuid",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.RunPython(give_each_event_a_uuid, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="triggerevent",
            name="uuid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name="triggerevent",
            name="received_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
    ]
