"""Encryption at rest for the tokens of outside services (Fernet, from the cryptography package).

Keys come from ``FIELD_ENCRYPTION_KEYS``: the first encrypts, all decrypt, so a key can be
rotated by putting the new one first (then ``manage.py reencrypt_secrets``). Production must set
them; development without them encrypts with a key derived from SECRET_KEY. Keys derived from
SECRET_KEY and SECRET_KEY_FALLBACKS always decrypt too, so secrets stored before
FIELD_ENCRYPTION_KEYS was set stay readable; ``reencrypt_secrets`` moves them to the first key,
after which SECRET_KEY can rotate freely.
django-fernet-encrypted-fields was considered; its clean() flips a flag on the shared field
instance, which makes concurrent threads read ciphertext.
"""

import base64
import functools
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

logger = logging.getLogger(__name__)


def _derived_key(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"marketing.field-encryption").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


@functools.cache
def _fernet(keys: tuple[str, ...], secret_keys: tuple[str, ...]) -> MultiFernet:
    try:
        configured = [Fernet(key.encode()) for key in keys]
    except ValueError as error:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS holds a key that is not a Fernet key: {error}")
    return MultiFernet([*configured, *(_derived_key(secret) for secret in secret_keys)])


def fernet() -> MultiFernet:
    """Encrypts with the first configured key; decrypts with any configured or derived one."""
    secret_keys = (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS), secret_keys)


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return fernet().decrypt(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """A text column holding Fernet ciphertext; Python code only ever sees the plain value."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        try:
            return decrypt(value)
        except InvalidToken:
            # A key was retired too early. An empty secret makes the account ask for a reconnect
            # instead of sending ciphertext to a provider or breaking every page that lists it.
            logger.error("cannot decrypt a stored secret", extra={"field": f"{self.model.__name__}.{self.name}"})
            return ""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
