"""Backups an operator can restore: the database and the media files, checked by a manifest.

A backup is a directory ``backup-<UTC time>/`` holding the database (``pg_dump``'s custom format
on PostgreSQL, SQLite's own online backup otherwise), ``media.tar.gz`` (the stored images) and
``manifest.json`` (when, from what, each file's size and SHA-256, the migrations it was taken
at). The encryption keys are deliberately not in it: a backup that leaked would otherwise leak
every Instagram token with it. Keep ``FIELD_ENCRYPTION_KEYS`` (or ``SECRET_KEY``) in the secret
store, apart from the backups; without it the restored tokens read as lost and need reconnecting.

Redis is not backed up: it holds the Celery queue, caches and rate limits, and the trigger
events accepted but not yet written (seconds' worth; see README "Backup and recovery").
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, connections
from django.db.migrations.recorder import MigrationRecorder

MANIFEST = "manifest.json"
MEDIA_ARCHIVE = "media.tar.gz"
DUMPS = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
FORMAT = 1


class BackupError(Exception):
    """A backup that could not be made, or a directory that is not a whole, intact backup."""


@dataclass(frozen=True)
class Backup:
    path: Path
    manifest: dict


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _postgres_env() -> dict[str, str]:
    """libpq's variables for the default database: the password never appears on a command line."""
    db = settings.DATABASES["default"]
    values = {"PGHOST": db.get("HOST"), "PGPORT": db.get("PORT"), "PGUSER": db.get("USER"),
              "PGPASSWORD": db.get("PASSWORD"), "PGDATABASE": db.get("NAME")}
    return {**os.environ, **{name: str(value) for name, value in values.items() if value}}


def _run(command: list[str]) -> None:
    try:
        subprocess.run(command, env=_postgres_env(), check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed: install PostgreSQL's client tools.") from None
    except subprocess.CalledProcessError as failed:
        raise BackupError(f"{command[0]} failed: {failed.stderr.strip()[-500:]}") from None


def _dump_database(directory: Path) -> Path:
    target = directory / DUMPS.get(connection.vendor, "")
    if connection.vendor == "postgresql":
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"])
    elif connection.vendor == "sqlite":
        connection.ensure_connection()
        with sqlite3.connect(target) as copy:
            connection.connection.backup(copy)  # consistent while the app keeps writing
        copy.close()
    else:
        raise BackupError(f"Backups support PostgreSQL and SQLite, not {connection.vendor}.")
    return target


def _archive_media(directory: Path) -> Path:
    target = directory / MEDIA_ARCHIVE
    media = Path(settings.MEDIA_ROOT)
    with tarfile.open(target, "w:gz") as archive:
        if media.is_dir():
            archive.add(media, arcname="media")
    return target


def _migrations() -> dict[str, str]:
    """Each app's latest applied migration: what the restored database expects of the code."""
    applied: dict[str, str] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        applied[app] = max(applied.get(app, name), name)
    return dict(sorted(applied.items()))


def backup_create(*, output: Path, keep: int | None = None) -> Backup:
    """Writes a new backup under ``output``; with ``keep``, deletes all but the newest ``keep`` backups there."""
    now = datetime.now(UTC)
    directory = output / f"backup-{now:%Y%m%dT%H%M%SZ}"
    if directory.exists():
        raise BackupError(f"{directory} already exists: wait a second and try again.")
    directory.mkdir(parents=True)
    try:
        files = [_dump_database(directory), _archive_media(directory)]
        manifest = {
            "format": FORMAT,
            "created_at": now.isoformat(),
            "database": connection.vendor,
            "migrations": _migrations(),
            "files": {path.name: {"bytes": path.stat().st_size, "sha256": _sha256(path)} for path in files},
        }
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)  # never leave half a backup to be trusted later
        raise
    if keep is not None:
        backups_prune(output=output, keep=keep)
    return Backup(path=directory, manifest=manifest)


def backups_prune(*, output: Path, keep: int) -> list[Path]:
    """Deletes all but the newest ``keep`` whole backups in ``output``; returns what it deleted."""
    whole = sorted(path for path in output.glob("backup-*") if (path / MANIFEST).is_file())
    doomed = whole[: max(len(whole) - keep, 0)]
    for path in doomed:
        shutil.rmtree(path)
    return doomed


def backup_verify(path: Path) -> Backup:
    """The backup at ``path`` with its manifest, once every file is there with the size and digest it had."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        raise BackupError(f"{path} has no readable {MANIFEST}: not a backup, or not a whole one.") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is a backup of an unknown format ({manifest.get('format')}).")
    for name, expected in manifest.get("files", {}).items():
        file = path / name
        if not file.is_file() or file.stat().st_size != expected["bytes"] or _sha256(file) != expected["sha256"]:
            raise BackupError(f"{name} is missing or changed since the backup was made: it cannot be trusted.")
    return Backup(path=path, manifest=manifest)


def backup_restore(path: Path) -> Backup:
    """Replaces the database and the media files with the backup's. Run ``migrate`` afterwards.

    The media archive is unpacked aside first, so a bad archive stops the restore before the
    database is touched.
    """
    backup = backup_verify(path)
    if backup.manifest["database"] != connection.vendor:
        raise BackupError(f"This backup is of a {backup.manifest['database']} database; this one is {connection.vendor}.")
    staged = _stage_media(path / MEDIA_ARCHIVE)
    dump = path / DUMPS[connection.vendor]
    try:
        if connection.vendor == "postgresql":
            # Tables the backup does not have came with migrations newer than it: they go, or
            # `migrate` would find them already there when it creates them again.
            newer = set(connection.introspection.table_names()) - _dumped_tables(dump)
            connections.close_all()
            _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
                  f"--dbname={settings.DATABASES['default']['NAME']}", str(dump)])
            with connection.cursor() as cursor:
                for table in sorted(newer):
                    cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)} CASCADE")
        else:
            connection.ensure_connection()
            source = sqlite3.connect(dump)
            try:
                source.backup(connection.connection)
            finally:
                source.close()
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    _swap_media(staged)
    return backup


def _dumped_tables(dump: Path) -> set[str]:
    """The tables in a pg_dump archive, from its table of contents."""
    try:
        listing = subprocess.run(["pg_restore", "--list", str(dump)], check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        raise BackupError("pg_restore is not installed: install PostgreSQL's client tools.") from None
    except subprocess.CalledProcessError as failed:
        raise BackupError(f"pg_restore could not read the dump: {failed.stderr.strip()[-500:]}") from None
    return {match[1] for match in re.finditer(r"^\d+; \d+ \d+ TABLE \S+ (\S+) ", listing, re.MULTILINE)}


def _stage_media(archive_path: Path) -> Path:
    """The archive unpacked beside MEDIA_ROOT; refuses members that would land outside it."""
    media = Path(settings.MEDIA_ROOT)
    staging = media.with_name(media.name + ".restoring")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            archive.extractall(staging, filter="data")  # no absolute paths, no "..", no links out, no devices
    except (tarfile.TarError, OSError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise BackupError(f"The media archive could not be unpacked safely: {error}") from None
    return staging


def _swap_media(staging: Path) -> None:
    media = Path(settings.MEDIA_ROOT)
    if media.exists():
        shutil.rmtree(media)
    restored = staging / "media"
    if restored.is_dir():
        restored.rename(media)
    else:
        media.mkdir(parents=True)
    shutil.rmtree(staging, ignore_errors=True)
