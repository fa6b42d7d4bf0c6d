"""Backs up the database and the media files: ``manage.py backup [--output DIR] [--keep N]``.

See marketing/backups.py for what is in a backup and what is deliberately not (the keys).
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from marketing import backups


class Command(BaseCommand):
    help = "Backs up the database and the media files into a new directory, with a manifest to check them by."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", type=Path, default=settings.VAR_DIR / "backups", help="Where backups go (default var/backups).")
        parser.add_argument("--keep", type=int, default=None, help="Then delete all but the newest N backups there.")

    def handle(self, *args, output: Path, keep: int | None, **options) -> None:
        if keep is not None and keep < 1:
            raise CommandError("--keep must be 1 or more: a backup run never deletes its own backup.")
        try:
            backup = backups.backup_create(output=output, keep=keep)
        except backups.BackupError as error:
            raise CommandError(str(error)) from None
        sizes = ", ".join(f"{name} {entry['bytes']:,} bytes" for name, entry in backup.manifest["files"].items())
        self.stdout.write(f"Backup written to {backup.path} ({sizes}).")
        self.stdout.write("The encryption keys are not in it: keep FIELD_ENCRYPTION_KEYS in your secret store.")
