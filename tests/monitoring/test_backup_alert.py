"""The "Backups not made" alert: the daily backup (BACKUP_DIR) has not succeeded for too long."""

from datetime import UTC, datetime, timedelta

import pytest

from monitoring.alerts import EVALUATORS
from monitoring.models import AlertKind, AlertRule, Heartbeat


@pytest.mark.parametrize(
    ("directory", "hours_ago", "fires"),
    [("", None, False), ("/backups", None, True), ("/backups", 30, True), ("/backups", 2, False)],
)
def test_it_alerts_when_the_daily_backup_stops(db, settings, directory, hours_ago, fires):
    settings.BACKUP_DIR = directory
    now = datetime(2026, 12, 5, 12, tzinfo=UTC)
    if hours_ago is not None:
        Heartbeat.objects.create(name="backup", at=now - timedelta(hours=hours_ago))
    rule = AlertRule.objects.get(kind=AlertKind.BACKUP_STALE)

    assert bool(EVALUATORS[rule.kind](rule, now)) is fires
    assert rule.threshold == 26
