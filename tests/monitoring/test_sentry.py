from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.redis import RedisIntegration

from monitoring.scrub import FILTERED
from monitoring.sentry import sentry_options


def test_it_gives_sentry_django_celery_redis_the_release_and_the_environment():
    options = sentry_options(dsn="http://key@127.0.0.1:9/1", release="abc123", environment="staging", traces_sample_rate=0)
    assert {type(i) for i in options["integrations"]} == {DjangoIntegration, CeleryIntegration, RedisIntegration}
    assert options["release"] == "abc123"
    assert options["environment"] == "staging"
    assert options["send_default_pii"] is False


def test_it_scrubs_sentry_events_like_our_samples():
    before_send = sentry_options(dsn="http://key@127.0.0.1:9/1", release="", environment="x", traces_sample_rate=0)["before_send"]
    event = {
        "request": {
            "headers": {"Authorization": "Bearer planted", "Accept": "text/html"},
            "cookies": {"sessionid": "planted"},
            "data": {"password": "planted", "caption": "hello"},
            "query_string": "access_token=planted&page=2",
        },
        "exception": {"values": [{"stacktrace": {"frames": [{"vars": {"api_key": "planted", "n": 3}}]}}]},
    }
    scrubbed = before_send(event, {})
    assert "planted" not in str(scrubbed)
    assert scrubbed["request"]["data"]["caption"] == "hello"
    assert scrubbed["request"]["headers"]["Authorization"] == FILTERED
    assert scrubbed["request"]["query_string"] == f"access_token={FILTERED}&page=2"
    assert scrubbed["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"] == {"api_key": FILTERED, "n": 3}
