from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from marketing.models import User
from marketing.services import workspace_create

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password-1234"


class Command(BaseCommand):
    help = "Creates the demo user (a staff member) and their workspace when absent, and prints the login."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            user = User.objects.create_superuser(
                email=DEMO_EMAIL, password=DEMO_PASSWORD, name="Demo Marketer", timezone="Europe/Berlin"
            )
            EmailAddress.objects.create(user=user, email=DEMO_EMAIL, verified=True, primary=True)
            workspace_create(name="Demo workspace", owner=user, timezone_name="Europe/Berlin")
            self.stdout.write("Created the demo user and workspace.")
        self.stdout.write(
            self.style.SUCCESS(f"Sign in at http://127.0.0.1:8000/ as {DEMO_EMAIL} / {DEMO_PASSWORD}")
        )
