"""Re-encrypts every stored secret with the first FIELD_ENCRYPTION_KEYS key.

Run it after putting a new key first, or after setting FIELD_ENCRYPTION_KEYS on an installation
whose secrets were encrypted with the key derived from SECRET_KEY; then the older keys (or
SECRET_KEY) can be retired. A value no key opens is left as it is and counted.
"""

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.core.management.base import BaseCommand
from django.db.models import TextField, Value
from django.db.models.functions import Cast

from integrations.crypto import EncryptedTextField, fernet
from marketing.adapters import mfa_secrets_reencrypt


class Command(BaseCommand):
    help = "Re-encrypts stored secrets with the first FIELD_ENCRYPTION_KEYS key."

    def handle(self, *args, **options) -> None:
        keys = fernet()
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if not isinstance(field, EncryptedTextField):
                    continue
                # Cast to plain text reads the ciphertext as stored, without decrypting it.
                rows = (
                    model._default_manager.exclude(**{field.name: ""})
                    .exclude(**{f"{field.name}__isnull": True})
                    .annotate(ciphertext=Cast(field.name, TextField()))
                    .values_list("pk", "ciphertext")
                )
                done = unreadable = 0
                for pk, ciphertext in rows.iterator():
                    try:
                        rotated = keys.rotate(ciphertext.encode()).decode()
                    except InvalidToken:
                        unreadable += 1
                        continue
                    model._default_manager.filter(pk=pk).update(**{field.name: Value(rotated)})
                    done += 1
                self.stdout.write(
                    f"{model._meta.label}.{field.name}: {done} re-encrypted, {unreadable} no key could open."
                )
        # Two-factor secrets are values inside a JSON column (allauth.mfa), not an EncryptedTextField.
        done, unreadable = mfa_secrets_reencrypt()
        self.stdout.write(f"mfa.Authenticator.data: {done} re-encrypted, {unreadable} no key could open.")
