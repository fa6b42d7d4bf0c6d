"""The migration from the campaign's two foreign keys to targets keeps every campaign's destination
and every run's history."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from campaigns.models import CampaignExecution, CampaignTarget
from tests.factories import WorkspaceFactory

BEFORE = [
    ("campaigns", "0006_recurring_campaigns_scheduled"),
    ("instagram", "0002_quota_attempts_insights"),
    ("n8n", "0002_connection_credentials_workflow_params"),
]
AFTER = [("campaigns", "0009_drop_destination_foreign_keys")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def latest_schema_after():
    """Brings the schema back to the latest migrations: the tests run after this one on the same
    database would miss every column added since AFTER."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("latest_schema_after")
def test_it_moves_destinations_and_run_ids_onto_targets_and_steps():
    old = migrate(BEFORE)
    Account = old.get_model("instagram", "InstagramAccount")
    Workflow = old.get_model("n8n", "N8nWorkflow")
    OldCampaign = old.get_model("campaigns", "Campaign")
    Execution = old.get_model("campaigns", "CampaignExecution")
    Step = old.get_model("campaigns", "ExecutionStep")
    Attempt = old.get_model("instagram", "PublishAttempt")

    # Today's Workspace model: the table has the columns of marketing's newest migration.
    workspace = old.get_model("marketing", "Workspace").objects.get(pk=WorkspaceFactory(name="Old Co").pk)
    account = Account.objects.create(workspace=workspace, ig_user_id="1", username="oldco", page_id="2")
    other_account = Account.objects.create(workspace=workspace, ig_user_id="3", username="newco", page_id="4")
    workflow = Workflow.objects.create(workspace=workspace, template_key="forward-webhook", name="Forward", n8n_id="w1", webhook_path="p")
    to_instagram = OldCampaign.objects.create(workspace=workspace, name="IG", instagram_account=other_account)
    to_n8n = OldCampaign.objects.create(workspace=workspace, name="n8n", n8n_workflow=workflow)
    nowhere = OldCampaign.objects.create(workspace=workspace, name="Nowhere")

    # Published to @oldco before the campaign moved to @newco: the attempt says where it went.
    published = Execution.objects.create(
        workspace=workspace, campaign=to_instagram, source="manual", status="succeeded",
        instagram_media_id="M1", instagram_permalink="https://www.instagram.com/p/M1/",
    )
    Step.objects.create(execution=published, position=2, name="publish", status="succeeded", detail="Published")
    Attempt.objects.create(workspace=workspace, execution=published, account=account, status="published", media_id="M1")
    handed = Execution.objects.create(
        workspace=workspace, campaign=to_n8n, source="manual", status="failed", error_category="timeout",
        n8n_execution_id="42", instagram_media_id="M2",
    )
    Step.objects.create(
        execution=handed, position=2, name="publish", status="failed", detail="No callback",
        state={"n8n": {"workflow_id": workflow.pk, "handed_off_at": "2026-01-01T00:00:00+00:00"}},
    )
    queued = Execution.objects.create(workspace=workspace, campaign=to_instagram, source="schedule")
    Step.objects.create(execution=queued, position=2, name="publish")
    skipped = Execution.objects.create(workspace=workspace, campaign=nowhere, source="manual", status="succeeded")
    Step.objects.create(execution=skipped, position=2, name="publish", status="skipped", detail="Nowhere to publish")

    migrate(AFTER)

    # Targets read without today's Campaign model: its table lacks the columns added after AFTER.
    assert [t.key for t in CampaignTarget.objects.filter(campaign_id=to_instagram.pk)] == [f"instagram:{other_account.pk}"]
    assert [t.key for t in CampaignTarget.objects.filter(campaign_id=to_n8n.pk)] == [f"n8n:{workflow.pk}"]
    assert not CampaignTarget.objects.filter(campaign_id=nowhere.pk).exists()

    step = CampaignExecution.objects.get(pk=published.pk).steps.get()
    assert (step.destination, step.object_id, step.external_id, step.external_url) == (
        "instagram", account.pk, "M1", "https://www.instagram.com/p/M1/"
    )
    run = CampaignExecution.objects.get(pk=handed.pk)
    step = run.steps.get()
    assert (step.destination, step.object_id, step.external_id, step.error_category) == ("n8n", workflow.pk, "42", "timeout")
    assert run.outputs == {"instagram_media_id": "M2", "n8n_execution_id": "42"}
    assert step.state["n8n"]["workflow_id"] == workflow.pk
    step = CampaignExecution.objects.get(pk=queued.pk).steps.get()
    assert (step.destination, step.object_id) == ("instagram", other_account.pk)
    assert CampaignExecution.objects.get(pk=skipped.pk).steps.get().destination == ""
