from django.db import migrations


def forwards(apps, schema_editor):
    # A campaign on a cron now reads "scheduled", like one that runs once.
    Campaign = apps.get_model("campaigns", "Campaign")
    Campaign.objects.filter(status="active", schedule__isnull=False).update(status="scheduled")


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0005_generation_failed_status")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
