"""The one mapping of Graph API error codes, through the client against the fake Graph API."""

import pytest

from integrations.instagram import client

from .conftest import IG_USER_ID, LONG_TOKEN


def quota():
    return client.publishing_limit(ig_user_id=IG_USER_ID, token=LONG_TOKEN)


@pytest.mark.parametrize("code", [4, 17, 32, 613])
def test_it_retries_rate_limits_later(graph, code):
    graph.fail("quota", code=code)

    with pytest.raises(client.RateLimited) as error:
        quota()

    assert error.value.retryable
    assert error.value.code == code
    assert len(graph.calls) == 1  # not retried in a loop


def test_it_retries_not_ready_later(graph):
    graph.fail("quota", code=9007, subcode=2207027, message="Media ID is not available")

    with pytest.raises(client.NotReady) as error:
        quota()

    assert error.value.retryable


def test_it_treats_an_invalid_token_as_final(graph):
    graph.fail("quota", code=190, subcode=463, message="Error validating access token: Session has expired")

    with pytest.raises(client.TokenInvalid) as error:
        quota()

    assert not error.value.retryable
    assert "Session has expired" in error.value.message


@pytest.mark.parametrize(("code", "subcode"), [(9004, 2207052), (9004, None), (36003, 2207052)])
def test_it_names_public_base_url_when_the_media_fetch_fails(graph, settings, code, subcode):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    graph.fail("quota", code=code, subcode=subcode, message="The media could not be fetched from this uri")

    with pytest.raises(client.MediaFetchFailed) as error:
        quota()

    assert "http://127.0.0.1:8000" in error.value.message
    assert "PUBLIC_BASE_URL" in error.value.message
    assert "reachable from the internet" in error.value.message


def test_it_treats_other_errors_as_final_with_metas_message(graph):
    graph.fail("quota", code=100, message="Unsupported get request.")

    with pytest.raises(client.GraphError) as error:
        quota()

    assert error.value.message == "Instagram: Unsupported get request."
    assert not error.value.retryable
    assert error.value.fbtrace_id == "AbCdEfGhIj"


def test_it_retries_metas_transient_errors_later(graph):
    graph.fail("quota", code=2, message="An unexpected error has occurred.", transient=True, times=2)

    with pytest.raises(client.GraphError) as error:
        quota()

    assert error.value.retryable


def test_it_never_puts_the_token_in_the_error_message(graph):
    graph.fail("quota", code=190, message="Invalid OAuth access token.")

    with pytest.raises(client.TokenInvalid) as error:
        quota()

    assert LONG_TOKEN not in str(error.value)
    assert LONG_TOKEN not in repr(client.Token(access_token=LONG_TOKEN, expires_in=60))


def test_it_takes_the_dialog_urls_api_version_from_the_graph_url(settings):
    settings.INSTAGRAM_GRAPH_URL = "https://graph.facebook.com/v24.0"

    url = client.dialog_url(redirect_uri="https://example.com/instagram/callback/", state="s")

    assert url.startswith("https://www.facebook.com/v24.0/dialog/oauth?")
