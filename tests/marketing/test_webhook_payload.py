"""A webhook's JSON body: what jsonb cannot store is refused, whether or not the value is walked."""

import json

import pytest

from marketing.webhooks import payload


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "\\u0000"}',
        b'{"a": ["x", {"b": "\\ud800"}]}',
        b'{"a": "\xed\xa0\x80"}',  # a surrogate encoded as if it were UTF-8
        '{"a": "\\u0000"}'.encode("utf-16"),
        '{"a": "\x00"}'.encode("utf-32-le"),
    ],
)
def test_it_refuses_text_jsonb_cannot_store(body):
    with pytest.raises(payload.PayloadError):
        payload.parse(body)


def test_it_refuses_nesting_past_the_limit_and_takes_it_up_to_the_limit():
    assert payload.parse(b"[" * 3 + b"]" * 3, max_depth=4) == [[[]]]
    assert payload.parse(b'{"a": {"b": {"c": 1}}}', max_depth=4) == {"a": {"b": {"c": 1}}}
    with pytest.raises(payload.PayloadError, match="deeper than 4"):
        payload.parse(b'{"a": {"b": {"c": {"d": 1}}}}', max_depth=4)


def test_it_takes_plain_and_escaped_text_that_can_be_stored():
    event = {"order": {"total": 12.5, "items": [{"sku": "LIN-01"}]}, "note": "Grüße, 👋", "quote": "\u00e9\"\\"}
    assert payload.parse(json.dumps(event).encode()) == event
    assert payload.parse(json.dumps(event, ensure_ascii=False).encode()) == event
    assert payload.parse(json.dumps(event).encode("utf-16")) == event


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1.5, "b": [true, null], "c": "x"}',
        '\ufeff{"a": "é"}'.encode("utf-8"),
        '{"a": "é"}'.encode("utf-16"),
        '{"a": "é"}'.encode("utf-16-le"),
        '{"a": "é"}'.encode("utf-32"),
        '{"a": "é"}'.encode("utf-32-be"),
        b'{"a": "\xed\xa0\x80"}',
        b'\xff\xfe\xfd',
        b'{"a": NaN}',
        b'{"a": 1e400}',
        b'"text"',
        b'',
        '{"a": 1}',
        '\ufeff{"a": 1}',
    ],
)
def test_it_reads_a_body_as_json_loads_does(body):
    def outcome(read):
        try:
            return "value", read(body)
        except (ValueError, RecursionError) as error:
            return "refused", type(error).__name__

    options = {"parse_constant": payload._no_constant, "parse_float": payload._finite_float}
    assert outcome(payload._loads) == outcome(lambda b: json.loads(b, **options))
