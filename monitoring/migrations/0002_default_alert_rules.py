from django.db import migrations

# The defaults as shipped; later edits happen in the admin. Kept here, not imported from
# monitoring.alerts, so the migration stays as it was when it ran.
DEFAULTS = [
    ("error_rate", "Error rate over 5%", 5, 5, 60),
    ("new_error_group", "New or regressed error group", 1, 60, 240),
    ("breaker_open", "Circuit breaker open for 5 minutes", 5, 5, 60),
    ("queue_backlog", "Queue backlog", 500, 15, 60),
    ("beat_silent", "Beat silent", 180, 5, 60),
    ("workers_silent", "Workers silent", 1, 5, 60),
    ("publish_failures", "Publish failures in a row", 3, 1440, 240),
    ("instagram_token", "Instagram token expired or expiring", 7, 60, 1440),
    ("n8n_callback_timeouts", "n8n callbacks timing out", 1, 60, 240),
    ("stripe_webhooks_failing", "Stripe webhooks failing", 3, 30, 120),
]


def create(apps, schema_editor):
    AlertRule = apps.get_model("monitoring", "AlertRule")
    for kind, name, threshold, window, remind in DEFAULTS:
        if not AlertRule.objects.filter(kind=kind).exists():
            AlertRule.objects.create(
                kind=kind, name=name, threshold=threshold, window_minutes=window, remind_after_minutes=remind
            )


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
