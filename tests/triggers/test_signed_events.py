"""Signed trigger events: t=…,v1=… over the timestamp, the token and the body; no replays, no stale ones."""

import json

import pytest
import time_machine
from cryptography.fernet import Fernet
from django.test import override_settings

from marketing.webhooks import signature
from triggers import selectors, services
from triggers.models import TriggerEvent, TriggerRejection

from .conftest import database_down

BODY = json.dumps({"order": {"total": 80}}).encode()


@pytest.fixture
def signed_trigger(make_trigger):
    trigger = make_trigger()
    trigger.secret = services.trigger_set_signing_secret(trigger=trigger, by=None)
    return trigger


def test_it_refuses_an_exact_replay_of_a_signed_event(signed_trigger, post_event):
    header = signature.sign(secret=signed_trigger.secret, target=signed_trigger.token, body=BODY)
    first = post_event(signed_trigger, BODY, X_Signature=header)
    again = post_event(signed_trigger, BODY, X_Signature=header)
    assert first.status_code == 202
    assert again.status_code == 409 and again.json()["error"] == "replayed"
    assert TriggerEvent.objects.count() == 1


def test_it_refuses_a_replay_while_redis_is_down(signed_trigger, post_event, redis_down):
    header = signature.sign(secret=signed_trigger.secret, target=signed_trigger.token, body=BODY)
    assert post_event(signed_trigger, BODY, X_Signature=header).status_code == 202
    assert post_event(signed_trigger, BODY, X_Signature=header).status_code == 409
    assert TriggerEvent.objects.count() == 1


def test_it_refuses_a_signature_older_than_five_minutes(signed_trigger, post_event):
    with time_machine.travel("2026-03-01 10:00:00Z", tick=False):
        header = signature.sign(secret=signed_trigger.secret, target=signed_trigger.token, body=BODY)
    with time_machine.travel("2026-03-01 10:05:01Z", tick=False):
        response = post_event(signed_trigger, BODY, X_Signature=header)
    assert response.status_code == 401 and "5 minutes" in response.json()["message"]
    assert not TriggerEvent.objects.exists()


def _set_secret_under_a_retired_key(trigger) -> str:
    """Sets the trigger's secret encrypted with a key this process no longer has."""
    with override_settings(FIELD_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        return services.trigger_set_signing_secret(trigger=trigger, by=None)


@pytest.mark.parametrize("warm_lookup", [False, True], ids=["cold", "cached"])
def test_it_refuses_every_event_while_the_signing_secret_cannot_be_read(make_trigger, post_event, warm_lookup):
    trigger = make_trigger()
    if warm_lookup:
        # The shared lookup cache holds the secret as the retired key encrypted it.
        with override_settings(FIELD_ENCRYPTION_KEYS=[key := Fernet.generate_key().decode()]):
            secret = services.trigger_set_signing_secret(trigger=trigger, by=None)
            header = signature.sign(secret=secret, target=trigger.token, body=BODY)
            assert post_event(trigger, BODY, X_Signature=header).status_code == 202
        selectors.trigger_token_forget_all()
    else:
        secret = _set_secret_under_a_retired_key(trigger)
    signed = post_event(trigger, BODY, X_Signature=signature.sign(secret=secret, target=trigger.token, body=BODY))
    unsigned = post_event(trigger, BODY)
    for response in (signed, unsigned):
        assert response.status_code == 503
        assert response.json()["error"] == "secret_lost" and "cannot be read" in response.json()["message"]
        assert response["Retry-After"] == "300"
    assert TriggerEvent.objects.filter(trigger=trigger).count() == (1 if warm_lookup else 0)
    assert TriggerRejection.objects.get(trigger=trigger, reason="secret_lost").count == 2


def test_it_tells_the_marketer_when_the_signing_secret_cannot_be_read(alice_client, make_trigger):
    trigger = make_trigger()
    _set_secret_under_a_retired_key(trigger)
    page = alice_client.get(trigger.get_absolute_url()).content.decode()
    assert "The signing secret cannot be read" in page and "Off: any request" not in page
    alice_client.post(f"/triggers/{trigger.pk}/secret/")
    trigger.refresh_from_db()
    assert trigger.signing_secret.startswith("whsec_") and not trigger.signing_secret_lost


def test_it_refuses_a_body_signed_for_another_trigger(signed_trigger, make_trigger, post_event):
    other = make_trigger()
    other.signing_secret = signed_trigger.secret
    other.save(update_fields=["signing_secret"])
    header = signature.sign(secret=signed_trigger.secret, target=signed_trigger.token, body=BODY)
    response = post_event(other, BODY, X_Signature=header)
    assert response.status_code == 401


def test_it_refuses_the_old_body_only_signature(signed_trigger, post_event):
    import hashlib
    import hmac

    old = "sha256=" + hmac.new(signed_trigger.secret.encode(), BODY, hashlib.sha256).hexdigest()
    response = post_event(signed_trigger, BODY, X_Signature=old)
    assert response.status_code == 401 and "t=<unix seconds>,v1=" in response.json()["message"]


def test_it_lets_the_sender_retry_a_signed_event_that_was_not_taken(signed_trigger, post_event, monkeypatch):
    header = signature.sign(secret=signed_trigger.secret, target=signed_trigger.token, body=BODY)
    with monkeypatch.context() as patched:
        patched.setattr(services, "_store", database_down)
        assert post_event(signed_trigger, BODY, X_Signature=header).status_code == 503
    assert post_event(signed_trigger, BODY, X_Signature=header).status_code == 202
    assert TriggerEvent.objects.count() == 1


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_it_refuses_an_event_that_is_not_a_json_object(make_trigger, post_event, body):
    response = post_event(make_trigger(), body)
    assert response.status_code == 400 and "JSON object" in response.json()["message"]
    assert not TriggerEvent.objects.exists()
