"""Secrets at rest stay readable across key changes: SECRET_KEY rotation never loses them."""

from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from integrations.instagram.models import InstagramAccount

NEW_KEY = Fernet.generate_key().decode()


def _stored(account: InstagramAccount) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM instagram_instagramaccount WHERE id = %s", [account.pk])
        return cursor.fetchone()[0]


def _account(workspace) -> InstagramAccount:
    return InstagramAccount.objects.create(
        workspace=workspace, ig_user_id="17841400000000001", username="alice.shop", page_id="1", access_token="EAAB-secret"
    )


def _read(account: InstagramAccount) -> str:
    return InstagramAccount.objects.get(pk=account.pk).access_token


def test_it_stores_ciphertext_not_the_secret(alice_workspace):
    account = _account(alice_workspace)
    assert "EAAB-secret" not in _stored(account)
    assert _read(account) == "EAAB-secret"


def test_it_keeps_a_secret_from_before_the_keys_were_set_readable(settings, alice_workspace):
    settings.FIELD_ENCRYPTION_KEYS = []
    account = _account(alice_workspace)  # encrypted with the key derived from SECRET_KEY

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]

    assert _read(account) == "EAAB-secret"


def test_it_keeps_secrets_readable_across_a_secret_key_rotation_with_encryption_keys_set(settings, alice_workspace):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    account = _account(alice_workspace)

    settings.SECRET_KEY = "a-brand-new-secret-key-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = []

    assert _read(account) == "EAAB-secret"


def test_it_moves_old_secrets_to_the_new_key_when_reencrypting(settings, alice_workspace):
    settings.FIELD_ENCRYPTION_KEYS = []
    account = _account(alice_workspace)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]

    call_command("reencrypt_secrets", stdout=open("/dev/null", "w"))
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "y" * 40

    assert Fernet(NEW_KEY.encode()).decrypt(_stored(account).encode()) == b"EAAB-secret"
    assert _read(account) == "EAAB-secret"


def test_it_leaves_a_value_no_key_opens_alone_when_reencrypting(settings, alice_workspace):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    account = _account(alice_workspace)
    before = _stored(account)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    call_command("reencrypt_secrets", stdout=open("/dev/null", "w"))

    assert _stored(account) == before
