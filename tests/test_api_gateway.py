"""Both API Gateway payload formats, base64 bodies, header-name case, non-ASCII bytes, body size."""

import base64

import pytest

from devtools.stripe_events import http_api_event, rest_api_event, stripe_signature
from tests.conftest import PARAMETER, SECRET, fixture_event, payload

FORMATS = {"http-api-2.0": http_api_event, "rest-api-1.0": rest_api_event}


def paid(session_id: str, **fields) -> bytes:
    return payload(
        fixture_event(
            "checkout.session.completed", id=session_id, client_reference_id="visitor-1", **fields
        )
    )


@pytest.mark.parametrize("make_event", FORMATS.values(), ids=FORMATS.keys())
@pytest.mark.parametrize("base64_body", [False, True], ids=["text", "base64"])
def test_both_payload_formats_with_and_without_base64(webhook, optibase, make_event, base64_body):
    body = paid("cs_test_formats")
    event = make_event(body, {"Stripe-Signature": stripe_signature(body, SECRET)}, base64_body)

    assert webhook.invoke(event).outcome == "converted"
    assert len(optibase.received) == 1


@pytest.mark.parametrize("name", ["Stripe-Signature", "stripe-signature", "STRIPE-SIGNATURE"])
def test_header_name_in_any_case(webhook, optibase, name):
    body = paid("cs_test_header_case")
    event = rest_api_event(body, {name: stripe_signature(body, SECRET)})

    assert webhook.invoke(event).outcome == "converted"


@pytest.mark.parametrize("base64_body", [False, True], ids=["text", "base64"])
def test_non_ascii_body_verifies_on_its_exact_bytes(webhook, optibase, base64_body):
    body = paid(
        "cs_test_non_ascii",
        metadata={"product": "Café crème ✓ 東京"},
        customer_details={"name": "Zoë Åström", "email": "zoe@example.com"},
    )
    assert not body.isascii()
    event = http_api_event(body, {"Stripe-Signature": stripe_signature(body, SECRET)}, base64_body)

    assert webhook.invoke(event).outcome == "converted"


def test_invalid_base64_is_rejected(webhook, optibase):
    event = http_api_event(b"{}", {"Stripe-Signature": "t=1,v1=00"})
    event.update(body="%%% not base64 %%%", isBase64Encoded=True)

    answer = webhook.invoke(event)

    assert (answer.status, answer.json["detail"]) == (400, "body is not valid base64")
    assert optibase.received == []


def test_bytes_that_are_not_utf8_are_rejected(webhook, optibase):
    body = b'{"id": "evt_\xff\xfe"}'
    event = http_api_event(b"", {"Stripe-Signature": "t=1,v1=00"})
    event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)

    answer = webhook.invoke(event)

    assert (answer.status, answer.json["detail"]) == (400, "body is not UTF-8")


@pytest.mark.parametrize("base64_body", [False, True], ids=["text", "base64"])
def test_body_over_1_mib_is_refused_before_any_work(webhook, optibase, aws, base64_body):
    # With the secret gone, any work beyond the size check would answer 500 instead of 413.
    aws.client("ssm").delete_parameter(Name=PARAMETER)
    body = b'{"padding": "' + b"x" * (1024 * 1024) + b'"}'
    event = http_api_event(body, {"Stripe-Signature": "t=1,v1=00"}, base64_body)

    answer = webhook.invoke(event)

    assert (answer.status, answer.outcome) == (413, "rejected")
    assert optibase.received == []


def test_body_of_exactly_1_mib_is_not_refused_for_size(webhook, optibase):
    body = b'{"padding": "' + b"x" * (1024 * 1024 - 15) + b'"}'
    assert len(body) == 1024 * 1024
    event = http_api_event(body, {"Stripe-Signature": stripe_signature(body, SECRET)}, True)

    answer = webhook.invoke(event)

    assert (answer.status, answer.json["detail"]) == (400, "body is not a Stripe event")
