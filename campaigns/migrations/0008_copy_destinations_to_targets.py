"""Copies each campaign's destination into a target, and each run's outside ids onto its publish step.

Which account or workflow a past run published to comes from what the run itself recorded (the
n8n hand-off in the step's state, the Instagram publish attempts), and only then from the
campaign's current foreign key, which may have changed since the run.
"""

from django.db import migrations

OUTPUT_FIELDS = ("instagram_media_id", "instagram_permalink", "n8n_execution_id")


def forward(apps, schema_editor):
    Campaign = apps.get_model("campaigns", "Campaign")
    CampaignTarget = apps.get_model("campaigns", "CampaignTarget")
    ExecutionStep = apps.get_model("campaigns", "ExecutionStep")
    PublishAttempt = apps.get_model("instagram", "PublishAttempt")

    targets = []
    for campaign_id, account_id, workflow_id in Campaign.objects.values_list("pk", "instagram_account_id", "n8n_workflow_id"):
        if account_id:
            targets.append(CampaignTarget(campaign_id=campaign_id, destination="instagram", object_id=account_id))
        if workflow_id:
            targets.append(CampaignTarget(campaign_id=campaign_id, destination="n8n", object_id=workflow_id))
    CampaignTarget.objects.bulk_create(targets, batch_size=1000)

    attempt_accounts = dict(
        PublishAttempt.objects.filter(account__isnull=False).order_by("id").values_list("execution_id", "account_id")
    )
    steps = ExecutionStep.objects.filter(name="publish").select_related("execution__campaign").order_by("pk")
    for step in steps.iterator(chunk_size=1000):
        execution = step.execution
        campaign = execution.campaign
        handoff = step.state.get("n8n") if isinstance(step.state, dict) else None
        destination, object_id = "", None
        if handoff:
            destination, object_id = "n8n", handoff.get("workflow_id") or campaign.n8n_workflow_id
        elif execution.pk in attempt_accounts:
            destination, object_id = "instagram", attempt_accounts[execution.pk]
        elif step.status != "skipped":
            # Not run yet (or run before attempts were recorded): the campaign's destination.
            if campaign.instagram_account_id:
                destination, object_id = "instagram", campaign.instagram_account_id
            elif campaign.n8n_workflow_id:
                destination, object_id = "n8n", campaign.n8n_workflow_id
        outputs = {name: getattr(execution, name) for name in OUTPUT_FIELDS if getattr(execution, name)}
        state = dict(step.state or {})
        if outputs:
            state["outputs"] = {**state.get("outputs", {}), **outputs}
        step.destination = destination
        step.object_id = object_id if destination else None
        step.state = state
        step.external_id = (
            execution.n8n_execution_id if destination == "n8n" else execution.instagram_media_id
        )[:64]
        step.external_url = execution.instagram_permalink if destination == "instagram" else ""
        step.error_category = execution.error_category if step.status == "failed" else ""
        step.save(update_fields=["destination", "object_id", "state", "external_id", "external_url", "error_category"])


def backward(apps, schema_editor):
    Campaign = apps.get_model("campaigns", "Campaign")
    CampaignExecution = apps.get_model("campaigns", "CampaignExecution")
    CampaignTarget = apps.get_model("campaigns", "CampaignTarget")
    ExecutionStep = apps.get_model("campaigns", "ExecutionStep")

    # The old model had one destination: the first Instagram target, else the first n8n one.
    fields = {"instagram": "instagram_account_id", "n8n": "n8n_workflow_id"}
    for target in CampaignTarget.objects.filter(destination__in=fields).order_by("-destination", "id"):
        Campaign.objects.filter(pk=target.campaign_id, instagram_account_id=None, n8n_workflow_id=None).update(
            **{fields[target.destination]: target.object_id}
        )
    for step in ExecutionStep.objects.filter(name="publish").order_by("pk").iterator(chunk_size=1000):
        outputs = (step.state or {}).get("outputs", {})
        fields = {name: outputs[name] for name in OUTPUT_FIELDS if outputs.get(name)}
        if fields:
            CampaignExecution.objects.filter(pk=step.execution_id).update(**fields)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0007_campaign_targets"),
        ("instagram", "0002_quota_attempts_insights"),
    ]

    operations = [migrations.RunPython(forward, backward)]
