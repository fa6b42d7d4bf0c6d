from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0008_copy_destinations_to_targets"),
    ]

    operations = [
        migrations.RemoveField(model_name="campaign", name="instagram_account"),
        migrations.RemoveField(model_name="campaign", name="n8n_workflow"),
        migrations.RemoveField(model_name="campaignexecution", name="instagram_media_id"),
        migrations.RemoveField(model_name="campaignexecution", name="instagram_permalink"),
        migrations.RemoveField(model_name="campaignexecution", name="n8n_execution_id"),
    ]
