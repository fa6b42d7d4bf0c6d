from django.conf import settings
from django.db import migrations, models


def cancel_duplicate_manual_runs(apps, schema_editor):
    """Keeps the oldest manual run in flight of each campaign; later duplicates are cancelled with a note."""
    Execution = apps.get_model("campaigns", "CampaignExecution")
    in_flight = Execution.objects.filter(source__in=("manual", "api"), status__in=("queued", "running"))
    seen = set()
    for execution in in_flight.order_by("campaign_id", "queued_at", "id"):
        if execution.campaign_id in seen:
            execution.status = "cancelled"
            execution.error_message = "Cancelled: another manual run of this campaign was already in progress."
            execution.save(update_fields=["status", "error_message"])
        seen.add(execution.campaign_id)


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0003_search_trigram_indexes'),
        ('marketing', '0003_apitoken'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(cancel_duplicate_manual_runs, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='campaignexecution',
            constraint=models.UniqueConstraint(condition=models.Q(('source__in', ('manual', 'api')), ('status__in', ('queued', 'running'))), fields=('campaign',), name='execution_one_manual_in_flight'),
        ),
    ]
