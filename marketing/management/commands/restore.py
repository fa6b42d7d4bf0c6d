"""Restores a backup made by ``manage.py backup``: ``manage.py restore DIR --yes``, then ``migrate``."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from marketing import backups


class Command(BaseCommand):
    help = "Replaces the database and the media files with a backup's, after checking it against its manifest."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="The backup's directory (backup-<time>).")
        parser.add_argument("--yes", action="store_true", help="Replace the current data without asking.")
        parser.add_argument("--check", action="store_true", help="Only check the backup against its manifest.")

    def handle(self, *args, path: Path, yes: bool, check: bool, **options) -> None:
        try:
            backup = backups.backup_verify(path)
            if check:
                self.stdout.write(f"{path}: intact, made {backup.manifest['created_at']} from {backup.manifest['database']}.")
                return
            if not yes:
                raise CommandError("This replaces every row and media file with the backup's. Run again with --yes.")
            backups.backup_restore(path)
        except backups.BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Restored {path} (made {backup.manifest['created_at']}). Run `manage.py migrate` next.")
