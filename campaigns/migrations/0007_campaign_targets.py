"""Campaign targets replace the campaign's Instagram account and n8n workflow foreign keys.

Three steps: add the targets and the publish steps' destination fields; copy every campaign's
destination into a target and every run's ids onto its publish step (see 0008); then 0009 drops
the old columns.
"""

from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0006_recurring_campaigns_scheduled"),
    ]

    operations = [
        migrations.CreateModel(
            name="CampaignTarget",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("destination", models.CharField(max_length=32)),
                ("object_id", models.PositiveBigIntegerField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "campaign",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="targets", to="campaigns.campaign"
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
                "indexes": [models.Index(fields=["destination", "object_id"], name="campaign_target_object")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("campaign", "destination", "object_id"), name="campaign_target_unique"
                    )
                ],
            },
        ),
        migrations.AddField(
            model_name="executionstep",
            name="destination",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name="executionstep",
            name="object_id",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="executionstep",
            name="external_id",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="executionstep",
            name="external_url",
            field=models.URLField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name="executionstep",
            name="error_category",
            field=models.CharField(
                blank=True,
                choices=[
                    ("validation", "Invalid campaign"),
                    ("provider", "Outside service error"),
                    ("auth", "Account needs reconnecting"),
                    ("quota", "Publishing quota reached"),
                    ("timeout", "Timed out"),
                    ("worker", "Worker lost"),
                    ("internal", "Internal error"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddIndex(
            model_name="executionstep",
            index=models.Index(fields=["destination", "object_id"], name="step_destination_object"),
        ),
    ]
