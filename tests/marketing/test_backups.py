"""`manage.py backup` and `restore`: the database and the media files, checked by a manifest."""

import io
import json
import tarfile
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection

from campaigns.models import Campaign, CampaignImage
from marketing import backups
from tests.factories import CampaignFactory, WorkspaceFactory, add_image

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def backup(output) -> backups.Backup:
    out = io.StringIO()
    call_command("backup", output=output, stdout=out)
    [path] = sorted(output.glob("backup-*"))[-1:]
    assert f"Backup written to {path}" in out.getvalue()
    return backups.backup_verify(path)


def test_it_restores_the_rows_and_the_images_it_backed_up(tmp_path, media):
    campaign = CampaignFactory(workspace=WorkspaceFactory(name="Acme"), name="Spring sale")
    image = add_image(campaign)
    content = image.file.read()
    made = backup(tmp_path / "backups")
    Campaign.objects.all().delete()
    for path in media.rglob("*"):
        if path.is_file():
            path.write_bytes(b"overwritten")

    out = io.StringIO()
    call_command("restore", str(made.path), yes=True, stdout=out)

    assert "Run `manage.py migrate` next." in out.getvalue()
    restored = Campaign.objects.get(name="Spring sale")
    assert restored.workspace.name == "Acme"
    assert CampaignImage.objects.get(campaign=restored).file.read() == content


def test_it_describes_the_backup_in_its_manifest(tmp_path):
    made = backup(tmp_path / "backups")

    manifest = made.manifest
    assert manifest["database"] == connection.vendor
    assert set(manifest["files"]) == {backups.DUMPS[connection.vendor], backups.MEDIA_ARCHIVE}
    assert manifest["migrations"]["campaigns"].startswith("00")
    assert "FIELD_ENCRYPTION_KEYS" not in json.dumps(manifest)


def test_it_refuses_a_backup_whose_files_changed(tmp_path):
    made = backup(tmp_path / "backups")
    with (made.path / backups.MEDIA_ARCHIVE).open("ab") as archive:
        archive.write(b"x")

    with pytest.raises(CommandError, match="media.tar.gz is missing or changed since the backup was made"):
        call_command("restore", str(made.path), yes=True)


def test_it_refuses_a_directory_that_is_not_a_backup(tmp_path):
    with pytest.raises(CommandError, match="has no readable manifest.json"):
        call_command("restore", str(tmp_path), yes=True)


def test_it_asks_for_yes_before_replacing_anything(tmp_path):
    made = backup(tmp_path / "backups")
    CampaignFactory(name="Made after the backup")

    with pytest.raises(CommandError, match="Run again with --yes"):
        call_command("restore", str(made.path))

    assert Campaign.objects.filter(name="Made after the backup").exists()


def test_it_checks_a_backup_without_restoring_it(tmp_path):
    made = backup(tmp_path / "backups")
    out = io.StringIO()

    call_command("restore", str(made.path), check=True, stdout=out)

    assert "intact" in out.getvalue()


def test_it_refuses_a_media_archive_reaching_outside_and_leaves_the_database_alone(tmp_path, media):
    made = backup(tmp_path / "backups")
    archive_path = made.path / backups.MEDIA_ARCHIVE
    with tarfile.open(archive_path, "w:gz") as archive:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"evil"))
    manifest = made.manifest
    manifest["files"][backups.MEDIA_ARCHIVE] = {"bytes": archive_path.stat().st_size, "sha256": backups._sha256(archive_path)}
    (made.path / backups.MANIFEST).write_text(json.dumps(manifest))
    CampaignFactory(name="Made after the backup")

    with pytest.raises(CommandError, match="could not be unpacked safely"):
        call_command("restore", str(made.path), yes=True)

    assert not (media.parent / "escaped.txt").exists()
    assert Campaign.objects.filter(name="Made after the backup").exists()


def test_it_keeps_the_newest_backups_it_is_told_to(tmp_path):
    output = tmp_path / "backups"
    start = datetime(2026, 12, 5, 3, tzinfo=UTC)
    for day in range(3):
        with time_machine.travel(start + timedelta(days=day), tick=False):
            call_command("backup", output=output, keep=2, stdout=io.StringIO())

    assert sorted(path.name for path in output.iterdir()) == ["backup-20261206T030000Z", "backup-20261207T030000Z"]


def test_it_backs_up_daily_only_where_a_directory_is_set(settings, tmp_path):
    from marketing.tasks import backup_scheduled
    from monitoring.models import Heartbeat

    settings.BACKUP_DIR = ""
    assert backup_scheduled() == ""
    assert not Heartbeat.objects.filter(name="backup").exists()

    settings.BACKUP_DIR, settings.BACKUP_KEEP = str(tmp_path / "nightly"), 1
    start = datetime(2026, 12, 5, 3, 20, tzinfo=UTC)
    for day in range(2):
        with time_machine.travel(start + timedelta(days=day), tick=False):
            written = backup_scheduled()

    assert [path.name for path in (tmp_path / "nightly").iterdir()] == ["backup-20261206T032000Z"]
    assert written.endswith("backup-20261206T032000Z")
    assert Heartbeat.objects.get(name="backup").at == start + timedelta(days=1)


def test_it_drops_tables_newer_than_the_backup_so_migrate_can_create_them_again(tmp_path):
    made = backup(tmp_path / "backups")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE newer_feature_row (id integer)")

    call_command("restore", str(made.path), yes=True, stdout=io.StringIO())

    assert "newer_feature_row" not in connection.introspection.table_names()
    assert "campaigns_campaign" in connection.introspection.table_names()
