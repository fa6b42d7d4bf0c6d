from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, connection
from django.db.models import F, Q, Value
from django.test.utils import CaptureQueriesContext

from campaigns import executions, selectors
from campaigns.models import Campaign, CampaignExecution, CampaignImage, ExecutionStep
from marketing.compiled import CompiledShapes, Of, insert_row, rows, update_row, update_rows, updated_rows
from tests.factories import CampaignFactory, WorkspaceFactory, add_image

pytestmark = pytest.mark.django_db


def _rows_of(workspace):
    return selectors.LIST_ROWS.filter(workspace=workspace).exclude(status="archived").order_by("-updated_at", "-id")


def _as_seen(campaigns):
    return [(c.pk, c.name, c.status, c.updated_at, c.last_run_status, c.last_run_at, c.first_image_id) for c in campaigns]


@pytest.fixture
def workspaces():
    first, second = WorkspaceFactory(), WorkspaceFactory()
    for workspace in (first, second):
        campaigns = CampaignFactory.create_batch(6, workspace=workspace)
        add_image(campaigns[0], size=(100, 100))
        executions.execution_create(campaign=campaigns[1])
        CampaignFactory(workspace=workspace, status="archived")
    return first, second


def test_it_reads_the_rows_the_queryset_reads(workspaces):
    shapes = CompiledShapes(selectors.LIST_ROWS)
    first, _ = workspaces
    for queryset in [
        _rows_of(first)[:4],
        _rows_of(first).reverse()[:4],
        _rows_of(first).filter(Q(name__icontains="campaign") | Q(caption__icontains="linen"))[:10],
        _rows_of(first).filter(pk__lt=_rows_of(first)[2].pk)[:3],
    ]:
        assert _as_seen(shapes.rows(queryset)) == _as_seen(queryset)


def test_it_converts_the_annotations_as_the_orm_does(workspaces):
    shapes = CompiledShapes(selectors.LIST_ROWS)
    run = next(c for c in shapes.rows(_rows_of(workspaces[0])) if c.last_run_at is not None)
    assert isinstance(run.last_run_at, datetime) and run.last_run_at.tzinfo is not None


def test_it_takes_each_requests_workspace_into_a_statement_compiled_for_another(workspaces):
    shapes = CompiledShapes(selectors.LIST_ROWS)
    first, second = workspaces
    shapes.rows(_rows_of(first))
    assert {c.workspace_id for c in Campaign.objects.filter(pk__in=[c.pk for c in shapes.rows(_rows_of(second))])} == {second.pk}
    assert _as_seen(shapes.rows(_rows_of(second))) == _as_seen(_rows_of(second))


def test_it_compiles_each_shape_once(workspaces, django_assert_num_queries):
    shapes = CompiledShapes(selectors.LIST_ROWS)
    first, second = workspaces
    shapes.rows(_rows_of(first)[:5])
    shapes.rows(_rows_of(second)[:5])
    shapes.rows(_rows_of(second)[:6])
    assert len(shapes._statements) == 2
    with CaptureQueriesContext(connection) as captured:
        rows = shapes.rows(_rows_of(first)[:5])
        # Every column the list shows was read: none is fetched on its own later.
        [[getattr(row, name) for name in selectors.ROW_FIELDS] for row in rows]
    assert len(captured) == 1


def test_it_reads_a_statement_with_values_outside_its_where_clause_the_usual_way(workspaces):
    base = selectors.LIST_ROWS.annotate(label=Value("x"))
    shapes = CompiledShapes(base)
    queryset = base.filter(workspace=workspaces[0]).order_by("-id")
    assert [c.label for c in shapes.rows(queryset)] == ["x"] * 7
    assert list(shapes._statements.values()) == [None]


def test_it_refuses_a_queryset_not_derived_from_its_base(workspaces):
    shapes = CompiledShapes(selectors.LIST_ROWS)
    with pytest.raises(ValueError):
        shapes.rows(Campaign.objects.filter(workspace=workspaces[0]))


def test_it_updates_one_row_as_update_does():
    campaign = CampaignFactory()
    execution = executions.execution_create(campaign=campaign)
    step = execution.steps.get(position=0)
    at = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)

    assert update_row(ExecutionStep, step.pk, {"status": "running", "state": {"context": {"caption": "é"}}, "started_at": at}) == 1

    step.refresh_from_db()
    assert (step.status, step.state, step.started_at) == ("running", {"context": {"caption": "é"}}, at)
    assert execution.steps.exclude(pk=step.pk).filter(status="running").count() == 0


def test_it_updates_only_a_row_that_meets_the_conditions():
    execution = executions.execution_create(campaign=CampaignFactory())

    assert update_row(CampaignExecution, execution.pk, {"error_message": "x"}, where={"status": ["running", "failed"]}) == 0
    assert update_row(CampaignExecution, execution.pk, {"error_message": "x"}, where={"status": []}) == 0
    assert update_row(CampaignExecution, execution.pk, {"error_message": "y"}, where={"status": ["queued", "running"]}) == 1
    assert update_row(CampaignExecution, execution.pk, {"error_message": "z"}, where={"status": "queued"}) == 1
    execution.refresh_from_db()
    assert execution.error_message == "z"


def test_it_updates_only_a_row_that_meets_a_condition_written_in_sql():
    execution = executions.execution_create(campaign=CampaignFactory(status="active"))
    campaign_status = '(SELECT status FROM "campaigns_campaign" WHERE id = campaign_id) = %s'

    assert update_row(CampaignExecution, execution.pk, {"error_message": "x"}, condition=(campaign_status, ["draft"])) == 0
    assert update_row(
        CampaignExecution, execution.pk, {"error_message": "y"}, where={"status": "queued"}, condition=(campaign_status, ["active"])
    ) == 1
    execution.refresh_from_db()
    assert execution.error_message == "y"


def test_it_updates_several_rows_at_one_round_trip_on_postgresql():
    execution = executions.execution_create(campaign=CampaignFactory())
    first, second = execution.steps.order_by("position")[:2]
    at = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)

    with CaptureQueriesContext(connection) as captured:
        update_rows([
            (ExecutionStep, first.pk, {"status": "succeeded", "detail": "it's done; really", "finished_at": at}),
            (ExecutionStep, second.pk, {"status": "running", "state": {"context": {"caption": "%s é"}}}),
            (CampaignExecution, execution.pk, {"error_message": "x"}),
        ])

    first.refresh_from_db(), second.refresh_from_db(), execution.refresh_from_db()
    assert (first.status, first.detail, first.finished_at) == ("succeeded", "it's done; really", at)
    assert (second.status, second.state) == ("running", {"context": {"caption": "%s é"}})
    assert execution.error_message == "x"
    assert len(captured) == (1 if connection.vendor == "postgresql" else 3)


def test_it_updates_a_row_after_others_in_one_round_trip_and_counts_only_that_row():
    execution = executions.execution_create(campaign=CampaignFactory())
    first, second = execution.steps.order_by("position")[:2]
    earlier = [(ExecutionStep, first.pk, {"detail": "one"}), (ExecutionStep, second.pk, {"detail": "two"})]

    with CaptureQueriesContext(connection) as captured:
        missed = update_row(CampaignExecution, execution.pk, {"error_message": "x"}, where={"status": "failed"}, first=earlier)
    updated = update_row(CampaignExecution, execution.pk, {"error_message": "y"}, where={"status": "queued"}, first=earlier[:1])

    assert (missed, updated) == (0, 1)
    first.refresh_from_db(), second.refresh_from_db(), execution.refresh_from_db()
    assert (first.detail, second.detail, execution.error_message) == ("one", "two", "y")
    assert len(captured) == (1 if connection.vendor == "postgresql" else 3)


def test_it_inserts_a_row_after_updates_in_one_round_trip_as_save_would():
    execution = executions.execution_create(campaign=CampaignFactory())
    step = execution.steps.first()
    image = CampaignImage(campaign=execution.campaign, file="campaigns/x.png", width=10, height=10)

    with CaptureQueriesContext(connection) as captured:
        insert_row(image, first=[(ExecutionStep, step.pk, {"detail": "with it"})])

    step.refresh_from_db()
    assert step.detail == "with it"
    assert image.pk is not None and not image._state.adding
    saved = CampaignImage.objects.get(pk=image.pk)
    assert _fields(saved) == _fields(image) and saved.created_at is not None
    assert len(captured) == (1 if connection.vendor == "postgresql" else 2)


@pytest.mark.django_db(transaction=True)
def test_it_inserts_a_row_and_makes_the_updates_before_it_all_or_none():
    execution = executions.execution_create(campaign=CampaignFactory())
    step = execution.steps.first()

    with pytest.raises(DatabaseError):
        insert_row(ExecutionStep(execution=execution, position=step.position, name="again"), first=[(ExecutionStep, step.pk, {"detail": "written"})])

    step.refresh_from_db()
    assert step.detail != "written"


@pytest.mark.django_db(transaction=True)  # outside any transaction, as the worker writes
def test_it_updates_several_rows_all_or_none():
    execution = executions.execution_create(campaign=CampaignFactory())
    first, second = execution.steps.order_by("position")[:2]

    with pytest.raises(DatabaseError):
        update_rows([
            (ExecutionStep, first.pk, {"detail": "written"}),
            (ExecutionStep, second.pk, {"position": first.position}),  # (execution, position) is unique
        ])

    first.refresh_from_db()
    assert first.detail != "written"


def test_it_refuses_an_expression():
    execution = executions.execution_create(campaign=CampaignFactory())

    with pytest.raises(TypeError):
        update_row(CampaignExecution, execution.pk, {"attempts": F("attempts") + 1})


def _fields(obj):
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def test_it_reads_a_row_with_its_related_rows_as_select_related_does():
    execution = executions.execution_create(campaign=CampaignFactory())
    expected = CampaignExecution.objects.select_related("campaign", "workspace", "requested_by").get(pk=execution.pk)

    [read] = rows(CampaignExecution, {"pk": execution.pk}, related=("campaign", "workspace", "requested_by"), lock=True)

    assert _fields(read) == _fields(expected)
    assert _fields(read.campaign) == _fields(expected.campaign)
    assert _fields(read.workspace) == _fields(expected.workspace)
    with CaptureQueriesContext(connection) as queries:
        assert read.requested_by is None  # a null foreign key: no row, known without a query
    assert len(queries) == 0
    assert not read._state.adding and read._state.db == "default"


def _mark_running(execution_id, *, when_status="queued"):
    return (
        'UPDATE "campaigns_campaignexecution" SET status = %s, attempts = attempts + 1 WHERE id = %s AND status = %s',
        ["running", execution_id, when_status],
    )


def test_it_reads_the_rows_an_update_changed_and_more_in_one_round_trip_on_postgresql():
    execution = executions.execution_create(campaign=CampaignFactory())

    with CaptureQueriesContext(connection) as queries:
        changed, (steps,) = updated_rows(
            *_mark_running(execution.pk),
            CampaignExecution,
            {"pk": execution.pk},
            related=("campaign", "workspace"),
            then=((ExecutionStep, {"execution": execution.pk}, ("-position",)),),
        )

    expected = CampaignExecution.objects.select_related("campaign", "workspace").get(pk=execution.pk)
    [read] = changed
    assert (read.status, read.attempts) == ("running", 1)
    assert _fields(read) == _fields(expected)
    assert _fields(read.campaign) == _fields(expected.campaign)
    assert _fields(read.workspace) == _fields(expected.workspace)
    assert [_fields(step) for step in steps] == [_fields(step) for step in execution.steps.order_by("-position")]
    assert len(queries) == (1 if connection.vendor == "postgresql" else 3)


def test_it_reads_rows_by_a_value_of_another_row_in_the_same_statement():
    campaign, other = CampaignFactory(), CampaignFactory()
    second, first, _ = add_image(campaign), add_image(campaign), add_image(other)
    CampaignImage.objects.filter(pk=second.pk).update(position=2)
    CampaignImage.objects.filter(pk=first.pk).update(position=1)
    execution = executions.execution_create(campaign=campaign)

    with CaptureQueriesContext(connection) as queries:
        changed, (images,) = updated_rows(
            *_mark_running(execution.pk),
            CampaignExecution,
            {"pk": execution.pk},
            then=((CampaignImage, {"campaign": Of(CampaignExecution, execution.pk, "campaign")}, ("position", "id")),),
        )

    assert [image.pk for image in images] == [first.pk, second.pk]
    assert [_fields(image) for image in images] == [_fields(image) for image in CampaignImage.objects.filter(campaign=campaign).order_by("position")]
    assert len(queries) == (1 if connection.vendor == "postgresql" else 3)
    assert rows(CampaignImage, {"campaign": Of(CampaignExecution, execution.pk + 1000, "campaign")}) == []


def test_it_reads_nothing_changed_when_the_update_changed_no_row():
    execution = executions.execution_create(campaign=CampaignFactory())

    changed, _ = updated_rows(
        *_mark_running(execution.pk, when_status="running"),
        CampaignExecution,
        {"pk": execution.pk},
        then=((ExecutionStep, {"execution": execution.pk}, ("position",)),),
    )

    assert changed == []
    execution.refresh_from_db()
    assert (execution.status, execution.attempts) == ("queued", 0)


def test_it_reads_the_rows_in_order_with_their_converted_values():
    execution = executions.execution_create(campaign=CampaignFactory())
    ExecutionStep.objects.filter(execution=execution, position=1).update(state={"context": {"caption": "x"}})

    read = rows(ExecutionStep, {"execution": execution}, order_by=("-position",))

    assert [_fields(step) for step in read] == [_fields(step) for step in execution.steps.order_by("-position")]
    assert read[-2].state == {"context": {"caption": "x"}}
    assert rows(ExecutionStep, {"execution": execution.pk, "name": "nothing"}) == []
