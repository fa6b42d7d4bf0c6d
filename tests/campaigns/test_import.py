import csv
import io
import json
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from billing.plans import FREE, Limit
from campaigns import imports, scheduling
from campaigns.models import Campaign, Schedule
from integrations.instagram.models import InstagramAccount
from integrations.n8n.models import N8nWorkflow
from marketing.services import api_token_create
from tests.factories import CampaignFactory, WorkspaceFactory, jpeg_bytes
from tests.integrations.cms.feed_server import feed_server  # noqa: F401 - the fixture, for images by address

NOW = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
URL = "/campaigns/import/"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def account(alice_workspace):
    return InstagramAccount.objects.create(
        workspace=alice_workspace, ig_user_id="17841400000000001", username="alice.shop", page_id="1"
    )


def check(workspace, text, user=None):
    return imports.campaigns_import(workspace=workspace, by=user, text=text, commit=False)


def run(workspace, text, user=None):
    return imports.campaigns_import(workspace=workspace, by=user, text=text, commit=True)


def errors_of(report):
    return {row.line: row.errors for row in report.rows if row.errors}


def test_it_imports_a_post_planned_once_on_the_zones_clock(alice_workspace, alice, account):
    run(alice_workspace, "name,caption,targets,publish_at,timezone\nTeaser,Soon.,@alice.shop,2027-03-05 09:30,Europe/Paris\n", alice)

    campaign = Campaign.objects.get(workspace=alice_workspace)
    schedule = Schedule.objects.get(campaign=campaign)
    assert (campaign.name, campaign.caption, campaign.status, campaign.created_by) == ("Teaser", "Soon.", "scheduled", alice)
    assert [target.key for target in campaign.targets.all()] == [f"instagram:{account.pk}"]
    assert schedule.kind == "once"
    assert schedule.run_at == datetime(2027, 3, 5, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))


def test_it_imports_a_recurrence_in_the_workspaces_zone_when_the_row_names_none(alice_workspace, account):
    alice_workspace.timezone = "America/New_York"
    alice_workspace.save()

    run(alice_workspace, "name,targets,cron\nMonday tip,alice.shop,0 9 * * 1\n")

    schedule = Schedule.objects.get(campaign__workspace=alice_workspace)
    assert (schedule.kind, schedule.cron, schedule.timezone) == ("recurring", "0 9 * * 1", "America/New_York")


def test_it_keeps_a_row_without_a_time_as_a_draft(alice_workspace):
    report = run(alice_workspace, "name,hashtags\nIdea,spring #sale\n")

    campaign = Campaign.objects.get(workspace=alice_workspace)
    assert (campaign.status, campaign.hashtags) == ("draft", "#spring #sale")
    assert not Schedule.objects.exists()
    assert report.rows[0].schedule == ""


def test_it_checks_every_row_and_keeps_nothing(alice_workspace, account):
    report = check(alice_workspace, "name,targets,publish_at\nA,@alice.shop,2027-03-05 09:30\nB,,\n")

    assert report.ok
    assert [(row.line, row.name, row.targets) for row in report.rows] == [(2, "A", ["@alice.shop"]), (3, "B", [])]
    assert report.rows[0].schedule.startswith("Once, ")
    assert report.scheduled_count == 1
    assert not Campaign.objects.exists() and not Schedule.objects.exists()


def test_it_imports_nothing_when_one_row_is_wrong(alice_workspace, account):
    text = "name,targets\nGood,@alice.shop\nBad,@nobody\nAlso good,\n"

    with pytest.raises(imports.ImportRefused) as refused:
        run(alice_workspace, text)

    assert errors_of(refused.value.report) == {3: ["targets: no account or workflow named “@nobody” in this workspace."]}
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (",Caption,,,", "name: a campaign needs a name."),
        ("A,,,tomorrow,", "publish_at: “tomorrow” is not a date and time such as 2027-01-15 09:30."),
        ("A,,,2027-03-05,", "publish_at: “2027-03-05” is not a date and time such as 2027-01-15 09:30."),
        ("A,,,2027-02-27 09:00,", "publish_at: This time has already passed."),
        ("A,,,2027-03-05 09:00,0 9 * * 1", "publish_at, cron: give one of them"),
        ("A,,,,61 9 * * *", "cron: "),
        ("A," + "x" * 2300 + ",,,", "caption"),
    ],
)
def test_it_says_what_is_wrong_on_the_rows_line(alice_workspace, row, expected):
    report = check(alice_workspace, f"name,caption,targets,publish_at,cron\nFine,,,,\n{row}\n")

    assert not report.ok
    assert list(errors_of(report)) == [3]
    assert any(expected in error for error in errors_of(report)[3]), errors_of(report)


def test_it_names_an_unknown_zone(alice_workspace):
    report = check(alice_workspace, "name,publish_at,timezone\nA,2027-03-05 09:00,Mars/Olympus\n")

    assert errors_of(report)[2][0].startswith("timezone: ")


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_it_reads_the_separators_spreadsheets_save_with(alice_workspace, account, delimiter):
    written = io.StringIO()
    csv.writer(written, delimiter=delimiter).writerows([["name", "caption", "targets"], ["A", "Hello, world; again", "@alice.shop"]])
    text = written.getvalue()

    report = run(alice_workspace, text)

    assert report.ok
    assert Campaign.objects.get().caption == "Hello, world; again"


def test_it_reads_header_names_in_any_case_and_order_and_a_byte_order_mark(alice_workspace):
    run(alice_workspace, "\ufeffCaption,First Comment,NAME\nHi,First!,A\n")

    campaign = Campaign.objects.get()
    assert (campaign.name, campaign.caption, campaign.first_comment) == ("A", "Hi", "First!")


def test_it_reads_a_cell_a_csv_download_kept_from_being_a_formula(alice_workspace, account):
    run(alice_workspace, "name,caption,targets\nA,'- 20% off,'@alice.shop\n")

    campaign = Campaign.objects.get()
    assert campaign.caption == "- 20% off"
    assert campaign.targets.get().object_id == account.pk


def test_it_matches_several_targets_by_key_or_name(alice_workspace, account):
    workflow = N8nWorkflow.objects.create(workspace=alice_workspace, template_key="t", name="Newsletter", n8n_id="1", webhook_path="p")

    run(alice_workspace, f'name,targets\nA,"ALICE.SHOP | n8n:{workflow.pk}"\n')

    assert sorted(target.key for target in Campaign.objects.get().targets.all()) == [f"instagram:{account.pk}", f"n8n:{workflow.pk}"]


def test_it_asks_for_a_key_when_two_destinations_share_a_name(alice_workspace):
    for n8n_id in ("1", "2"):
        N8nWorkflow.objects.create(
            workspace=alice_workspace, template_key=f"t{n8n_id}", name="Newsletter", n8n_id=n8n_id, webhook_path="p"
        )

    report = check(alice_workspace, "name,targets\nA,Newsletter\n")

    assert "names 2 destinations; use its key" in errors_of(report)[2][0]


def test_it_never_reaches_another_workspaces_account(alice_workspace, charlie):
    other = InstagramAccount.objects.create(
        workspace=charlie.memberships.get().workspace, ig_user_id="17841400000000009", username="charlie.shop", page_id="9"
    )

    by_name = check(alice_workspace, "name,targets\nA,@charlie.shop\n")
    by_key = check(alice_workspace, f"name,targets\nA,instagram:{other.pk}\n")

    assert errors_of(by_name)[2] == ["targets: no account or workflow named “@charlie.shop” in this workspace."]
    assert errors_of(by_key)[2] == [f"targets: no account or workflow named “instagram:{other.pk}” in this workspace."]


def test_it_warns_when_the_files_own_rows_publish_too_close_together(alice_workspace, account):
    report = run(alice_workspace, "name,targets,publish_at\nA,@alice.shop,2027-03-05 09:00\nB,@alice.shop,2027-03-05 09:10\n")

    assert report.ok
    assert report.rows[0].warnings == []
    assert "“A” also publishes to @alice.shop within 30 minutes" in report.rows[1].warnings[0]
    assert Campaign.objects.count() == 2


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "The file is empty."),
        ("name,colour\nA,red\n", "Unknown column: 'colour'."),
        ("caption\nHello\n", "name is missing"),
        ("name,name\nA,B\n", "Each column once: name"),
        ("name\n", "a header but no campaign rows"),
        ("name\nA,extra\n", "Line 2: more cells than columns"),
        ('name\n"A\x00\n', "NUL characters"),
        ('name,caption\nA,"open quote\n', "cannot be read as CSV"),
    ],
)
def test_it_refuses_a_file_it_cannot_read_and_says_why(alice_workspace, text, problem):
    report = check(alice_workspace, text)

    assert not report.ok
    assert any(problem in text for text in report.problems), report.problems
    with pytest.raises(imports.ImportRefused):
        run(alice_workspace, text)
    assert not Campaign.objects.exists()


def test_it_takes_at_most_max_rows(alice_workspace):
    report = check(alice_workspace, "name\n" + "A\n" * (imports.MAX_ROWS + 1))

    assert report.problems == [f"At most {imports.MAX_ROWS} campaigns a file; this one has {imports.MAX_ROWS + 1}. Split it."]


def test_it_refuses_a_file_over_the_size_limit():
    with pytest.raises(ValidationError, match="over 1 MB"):
        imports.decode(b"name\n" + b"A\n" * (imports.MAX_BYTES // 2))


def test_it_refuses_a_file_that_is_not_utf8():
    with pytest.raises(ValidationError, match="not UTF-8"):
        imports.decode("name\nCafé\n".encode("latin-1"))


def test_it_imports_nothing_past_the_plans_campaign_limit(settings, alice_workspace):
    settings.STRIPE_SECRET_KEY = "sk_test_FakeKeyForTests0123456789abcdef"  # billing on, on the free plan
    room = FREE.limit(Limit.CAMPAIGNS) - 1
    for number in range(room):
        CampaignFactory(workspace=alice_workspace, name=f"Old {number}")

    with pytest.raises(imports.ImportRefused) as refused:
        run(alice_workspace, "name\nFits\nOne too many\n")

    assert list(errors_of(refused.value.report)) == [3]
    assert "plan allows" in errors_of(refused.value.report)[3][0]
    assert Campaign.objects.filter(workspace=alice_workspace).count() == room


# The page ------------------------------------------------------------------------------------


def test_it_checks_an_uploaded_file_then_imports_it_on_confirm(alice_client, alice_workspace, alice, account):
    upload = SimpleUploadedFile("posts.csv", b"name,targets,publish_at\nA,@alice.shop,2027-03-05 09:30\nB,,\n")

    checked = alice_client.post(URL, {"file": upload})

    assert checked.status_code == 200
    assert "Ready to import 2 campaigns" in checked.text
    assert not Campaign.objects.exists()
    confirm = checked.context["confirm_form"]
    imported = alice_client.post(
        URL, {"text": confirm["text"].value(), "confirm": "True", "idempotency_key": confirm["idempotency_key"].value()}
    )

    assert imported.status_code == 302
    assert imported.url == "/campaigns/?sort=created"
    assert sorted(Campaign.objects.filter(workspace=alice_workspace).values_list("name", "created_by")) == [
        ("A", alice.pk), ("B", alice.pk)
    ]
    assert "2 campaigns imported, 1 of them scheduled." in [str(m) for m in imported.wsgi_request._messages]


def test_it_imports_once_when_the_button_is_clicked_twice(alice_client, alice_workspace):
    form = {"text": "name\nA\nB\n", "confirm": "True", "idempotency_key": "0f" * 16}

    alice_client.post(URL, form)
    again = alice_client.post(URL, form, follow=True)

    assert Campaign.objects.filter(workspace=alice_workspace).count() == 2
    assert "These campaigns were already imported." in again.text


def test_it_shows_each_rows_problem_and_keeps_the_rows_to_correct(alice_client):
    response = alice_client.post(URL, {"text": "name,publish_at\nA,soon\n"})

    assert response.status_code == 200
    assert "Nothing imported: 1 problem to fix" in response.text
    assert "publish_at: “soon” is not a date and time" in response.text
    assert response.context["confirm_form"] is None
    assert response.context["form"]["text"].value() == "name,publish_at\nA,soon\n"


def test_it_imports_nothing_when_a_confirmed_file_no_longer_passes(alice_client):
    response = alice_client.post(URL, {"text": "name\n\"\"\n", "confirm": "True", "idempotency_key": "k1"})

    assert response.status_code == 200
    assert "Nothing was imported" in response.text
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choose a CSV file, or paste its rows."),
        ({"file": SimpleUploadedFile("x.csv", "name\nCafé\n".encode("utf-16"))}, "not UTF-8"),
        ({"text": "name\nA\x00\n"}, "Null characters are not allowed."),
    ],
)
def test_it_answers_bad_input_with_the_form_and_a_reason(alice_client, data, message):
    response = alice_client.post(URL, data)

    assert response.status_code == 200
    assert message in response.text
    assert not Campaign.objects.exists()


def test_it_imports_into_the_signed_in_members_workspace_only(client, charlie):
    client.force_login(charlie)
    other = WorkspaceFactory(name="Not Charlie's")

    client.post(URL, {"text": "name\nMine\n", "confirm": "True", "idempotency_key": "k2"})

    assert list(Campaign.objects.values_list("workspace__name", flat=True)) == ["Charlie Inc"]
    assert not Campaign.objects.filter(workspace=other).exists()


def test_it_offers_a_sample_file_that_imports_as_it_is(alice_client, alice_workspace, account):
    response = alice_client.get(reverse("campaign_import_sample"))
    text = b"".join(response.streaming_content).decode("utf-8-sig")

    assert text.splitlines()[0] == ",".join(imports.COLUMNS)
    report = check(alice_workspace, text)
    assert report.ok, (report.problems, errors_of(report))
    assert [row.targets for row in report.rows] == [["@alice.shop"], ["@alice.shop"]]


def test_it_is_linked_from_the_campaign_list(alice_client):
    assert f'href="{URL}"' in alice_client.get("/campaigns/").text


# Export, in the import's columns -------------------------------------------------------------


def exported(client, query=""):
    response = client.get(f"/campaigns/export.csv{query}")
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8-sig")


def test_it_exports_the_list_in_the_columns_an_import_reads_back(alice_client, alice_workspace, alice, account):
    workflow = N8nWorkflow.objects.create(workspace=alice_workspace, template_key="t", name="Newsletter", n8n_id="1", webhook_path="p")
    original = (
        "name,caption,hashtags,first_comment,brief,targets,publish_at,cron,timezone\n"
        f'Teaser,"Soon, friends",#spring,Link in bio,Linen,"@alice.shop, n8n:{workflow.pk}",2027-03-05 09:30,,Europe/Paris\n'
        "Monday tip,Tip,,,,,,0 9 * * 1,America/New_York\n"
        "Idea,,,,,,,,\n"
    )
    run(alice_workspace, original, alice)

    text = exported(alice_client, "?sort=name")
    Campaign.objects.all().delete()
    run(alice_workspace, text, alice)

    assert text.splitlines()[0] == ",".join(imports.COLUMNS)
    assert exported(alice_client, "?sort=name") == text
    teaser = Campaign.objects.get(name="Teaser")
    assert (teaser.caption, teaser.hashtags, teaser.first_comment, teaser.brief) == ("Soon, friends", "#spring", "Link in bio", "Linen")
    assert sorted(target.key for target in teaser.targets.all()) == [f"instagram:{account.pk}", f"n8n:{workflow.pk}"]
    assert teaser.schedule.run_at == datetime(2027, 3, 5, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert (Campaign.objects.get(name="Monday tip").schedule.cron, Campaign.objects.get(name="Monday tip").schedule.timezone) == (
        "0 9 * * 1", "America/New_York"
    )
    assert Campaign.objects.get(name="Idea").status == "draft"


def test_it_exports_what_the_lists_filters_show_and_only_this_workspaces(alice_client, alice_workspace, charlie):
    CampaignFactory(workspace=alice_workspace, name="Linen shirts", caption="")
    CampaignFactory(workspace=alice_workspace, name="Wool coats", caption="Warm.")
    CampaignFactory(workspace=alice_workspace, name="Old linen", caption="", status="archived")
    CampaignFactory(workspace=charlie.memberships.get().workspace, name="Charlie's linen", caption="")

    names = [line.split(",")[0] for line in exported(alice_client, "?q=linen").splitlines()[1:]]

    assert names == ["Linen shirts"]


def test_it_names_a_destination_by_its_key_where_two_share_a_name(alice_client, alice_workspace, alice):
    first, second = (
        N8nWorkflow.objects.create(workspace=alice_workspace, template_key=f"t{n}", name="Newsletter", n8n_id=n, webhook_path="p")
        for n in ("1", "2")
    )
    run(alice_workspace, f"name,targets\nA,n8n:{second.pk}\n", alice)

    assert exported(alice_client).splitlines()[1] == f"A,,,,,n8n:{second.pk},,,,post,"


def test_it_links_the_export_with_the_lists_filters(alice_client, alice_workspace):
    CampaignFactory(workspace=alice_workspace, name="Linen")

    page = alice_client.get("/campaigns/?q=linen&sort=name")

    assert 'href="/campaigns/export.csv?q=linen&amp;sort=name" download>Download CSV</a>' in page.text


def test_it_puts_rows_in_the_queue_one_posting_time_after_another(alice_workspace, alice):
    alice_workspace.timezone = "Europe/Paris"
    alice_workspace.save()
    scheduling.posting_slot_add(workspace=alice_workspace, weekdays=[1, 3], at=time(18, 0))

    report = run(alice_workspace, "name,publish_at\nA,queue\nB,Queue\n", alice)

    paris = ZoneInfo("Europe/Paris")
    assert [Campaign.objects.get(name=name).schedule.run_at.astimezone(paris) for name in "AB"] == [
        datetime(2027, 3, 2, 18, 0, tzinfo=paris), datetime(2027, 3, 4, 18, 0, tzinfo=paris)
    ]
    assert report.rows[0].schedule.startswith("Queue: Tue 2 Mar 2027, 18:00")


def test_it_says_a_queued_row_needs_posting_times(alice_workspace):
    report = check(alice_workspace, "name,publish_at\nA,queue\n")

    assert errors_of(report) == {2: ["Set the workspace's posting times first: the queue fills them in order."]}


# The API ----------------------------------------------------------------------------------------


@pytest.fixture
def api(alice, alice_workspace):
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(workspace=alice_workspace, user=alice, name='t')[1]}")


def post_import(api, body, **headers):
    return api.post("/api/v1/campaigns/import/", json.dumps(body), content_type="application/json", **headers)


def test_it_imports_through_the_api_and_names_the_campaigns_made(api, alice_workspace, account):
    response = post_import(api, {"csv": "name,targets,publish_at\nA,@alice.shop,2027-03-05 09:30\nB,,\n"})

    assert response.status_code == 201
    body = response.json()
    made = {campaign.name: campaign.pk for campaign in Campaign.objects.filter(workspace=alice_workspace)}
    assert body["imported"] is True
    assert [(row["line"], row["name"], row["campaign"], row["targets"]) for row in body["rows"]] == [
        (2, "A", made["A"], ["@alice.shop"]), (3, "B", made["B"], [])
    ]


def test_it_checks_through_the_api_without_keeping_anything(api):
    response = post_import(api, {"csv": "name\nA\n", "dry_run": True})

    assert response.status_code == 200
    assert response.json()["imported"] is False and response.json()["rows"][0]["campaign"] is None
    assert not Campaign.objects.exists()


def test_it_answers_the_api_400_with_each_rows_problem_and_keeps_nothing(api):
    response = post_import(api, {"csv": "name,publish_at\nA,\nB,soon\n"})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["detail"] == "1 problem; nothing was imported."
    assert body["errors"] == {"csv": ["Line 3: publish_at: “soon” is not a date and time such as 2027-01-15 09:30."]}
    assert [row["errors"] for row in body["rows"]] == [[], ["publish_at: “soon” is not a date and time such as 2027-01-15 09:30."]]
    assert not Campaign.objects.exists()


def test_it_imports_once_through_the_api_with_an_idempotency_key(api, alice_workspace):
    first = post_import(api, {"csv": "name\nA\n"}, HTTP_IDEMPOTENCY_KEY="import-1")
    again = post_import(api, {"csv": "name\nA\n"}, HTTP_IDEMPOTENCY_KEY="import-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert Campaign.objects.filter(workspace=alice_workspace).count() == 1


def test_it_says_how_to_ask_for_approval_of_what_it_imported(alice_client, alice_workspace):
    alice_workspace.require_approval = True
    alice_workspace.save()

    page = alice_client.post(URL, {"text": "name\nA\n", "confirm": "True", "idempotency_key": "k3"}, follow=True)

    assert "tick them in the list and choose “Ask for approval”." in page.text
    assert 'value="request_approval"' in page.text


def test_it_imports_the_format_and_refuses_an_unknown_one_on_its_line(alice_workspace):
    report = check(alice_workspace, "name,format\nTeaser,Story\nReel,reel\n")

    errors = errors_of(report)
    assert list(errors) == [3] and len(errors[3]) == 1
    assert errors[3][0] == "format: “reel” is not a format: post or story."

    run(alice_workspace, "name,format\nTeaser,Story\nPlain,\n")
    assert dict(Campaign.objects.filter(workspace=alice_workspace).values_list("name", "format")) == {
        "Teaser": "story", "Plain": "post",
    }  # fmt: skip


# Images by address --------------------------------------------------------------------------------


def _media_files(settings) -> list:
    return sorted(path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file())


def test_it_downloads_each_rows_images_in_order_and_crops_them_to_fit(alice_workspace, feed_server, settings):
    square = feed_server.serve("/a.jpg", jpeg_bytes((1080, 1080), "red"), content_type="image/jpeg")
    tall = feed_server.serve("/b.jpg", jpeg_bytes((900, 1600), "blue"), content_type="image/jpeg")

    run(alice_workspace, f"name,image_url,format\nCarousel,{square} | {tall},\nStory,{tall},story\n")

    carousel, story = Campaign.objects.get(name="Carousel"), Campaign.objects.get(name="Story")
    assert [(image.width, image.height) for image in carousel.images.all()] == [(1080, 1080), (900, 1125)]  # cropped to 4:5
    assert [(image.width, image.height) for image in story.images.all()] == [(900, 1600)]  # a story keeps 9:16
    assert feed_server.hits["/b.jpg"] == 1  # once a file, however many rows name it


def test_it_checks_the_images_without_storing_any(alice_client, alice_workspace, feed_server, settings):
    good = feed_server.serve("/a.jpg", jpeg_bytes(), content_type="image/jpeg")

    report = check(alice_workspace, f"name,image_url\nTeaser,{good}\n")
    page = alice_client.post(URL, {"text": f"name,image_url\nTeaser,{good} {good}?2\n"}).content.decode()

    assert report.ok and not errors_of(report)
    assert "2 images" in page
    assert not Campaign.objects.exists() and _media_files(settings) == []


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("{origin}/missing.jpg", "HTTP 404"),
        ("{origin}/page.html", "not a JPEG, PNG or WebP image"),
        ("ftp://example.com/a.jpg", "Enter an http:// or https:// URL."),
    ],
)
def test_it_refuses_an_image_it_cannot_use_on_its_line_and_imports_nothing(alice_workspace, feed_server, settings, cell, message):
    feed_server.serve("/page.html", b"<html>not an image</html>", content_type="text/html")
    good = feed_server.serve("/a.jpg", jpeg_bytes(), content_type="image/jpeg")
    text = f"name,image_url\nFine,{good}\nBroken,{cell.format(origin=feed_server.base_url)}\n"

    with pytest.raises(imports.ImportRefused) as refused:
        run(alice_workspace, text)

    errors = errors_of(refused.value.report)
    assert list(errors) == [3] and message in errors[3][0] and errors[3][0].startswith("image_url: ")
    assert not Campaign.objects.exists() and _media_files(settings) == []


def test_it_refuses_an_image_on_a_private_address_when_those_are_not_allowed(alice_workspace, feed_server, settings):
    inside = feed_server.serve("/a.jpg", jpeg_bytes(), content_type="image/jpeg")
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False

    report = check(alice_workspace, f"name,image_url\nTeaser,{inside}\n")

    assert "points into a private network" in errors_of(report)[2][0]
    assert feed_server.hits.get("/a.jpg", 0) == 0


def test_it_refuses_more_images_than_a_row_or_a_file_may_name(alice_workspace, feed_server):
    one = feed_server.serve("/a.jpg", jpeg_bytes(), content_type="image/jpeg")
    report = check(alice_workspace, f"name,format,image_url\nStory,story,{one} {one}?2\n")
    assert errors_of(report) == {2: ["image_url: a story takes one image."]}

    many = " ".join(f"{one}?{n}" for n in range(imports.MAX_IMAGE_URLS + 1))
    report = check(alice_workspace, f"name,image_url\nMany,{many}\n")
    assert f"At most {imports.MAX_IMAGE_URLS} image addresses a file" in report.problems[0]


def test_it_stops_downloading_when_the_files_budget_is_spent(alice_workspace, feed_server, monkeypatch):
    first = feed_server.serve("/a.jpg", jpeg_bytes(), content_type="image/jpeg")
    second = feed_server.serve("/b.jpg", jpeg_bytes(), content_type="image/jpeg")
    readings = iter([0.0, 0.0, imports.DOWNLOAD_BUDGET_SECONDS + 1])  # the start, then before each download
    monkeypatch.setattr(imports, "_clock", lambda: next(readings))

    report = check(alice_workspace, f"name,image_url\nOne,{first}\nTwo,{second}\n")

    assert errors_of(report) == {
        3: [f"image_url: {second}: Not downloaded: the file's images took over 30 s. Import fewer at a time, or add them on the campaign's page."]
    }
    assert (feed_server.hits["/a.jpg"], feed_server.hits["/b.jpg"]) == (1, 0)
