"""Only requests Stripe signed with one of our secrets pass verification; others send nothing."""

import json
import time

import pytest

from devtools.stripe_events import http_api_event, stripe_signature
from tests.conftest import PARAMETER, SECRET, fixture_event, payload

VISITOR = "clx8f2k9a0001qz7b3m5n6p4r"
PAID = payload(fixture_event("checkout.session.completed", client_reference_id=VISITOR))


def deliver_with_header(webhook, body: bytes, header: str | None):
    headers = {} if header is None else {"Stripe-Signature": header}
    return webhook.invoke(http_api_event(body, headers))


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing Stripe-Signature header"),
        ("", "missing Stripe-Signature header"),
        ("garbage", "malformed Stripe-Signature header"),
        ("t=notanumber,v1=abc", "malformed Stripe-Signature header"),
        (f"t={int(time.time())}", "malformed Stripe-Signature header"),
        (f"t={int(time.time())},v0=abc", "malformed Stripe-Signature header"),
        (f"t={int(time.time())},v1=deadbeef", "signature does not match"),
    ],
)
def test_missing_or_garbled_header_is_rejected(webhook, optibase, header, reason):
    answer = deliver_with_header(webhook, PAID, header)

    assert (answer.status, answer.json) == (400, {"outcome": "rejected", "detail": reason})
    assert optibase.received == []


def test_wrong_secret_is_rejected(webhook, optibase):
    answer = webhook.deliver(PAID, secret="whsec_someone_elses_secret")

    assert (answer.status, answer.json["detail"]) == (400, "signature does not match")
    assert optibase.received == []


def test_stale_timestamp_is_rejected(webhook, optibase):
    header = stripe_signature(PAID, SECRET, timestamp=int(time.time()) - 301)

    answer = deliver_with_header(webhook, PAID, header)

    assert (answer.status, answer.json["detail"]) == (
        400,
        "signature timestamp outside the tolerance",
    )
    assert optibase.received == []


def test_timestamp_just_inside_the_tolerance_is_accepted(webhook, optibase):
    header = stripe_signature(PAID, SECRET, timestamp=int(time.time()) - 290)

    assert deliver_with_header(webhook, PAID, header).outcome == "converted"


def test_body_changed_after_signing_is_rejected(webhook, optibase):
    header = stripe_signature(PAID, SECRET)
    tampered = PAID.replace(VISITOR.encode(), b"attacker-chosen-visitor")

    answer = deliver_with_header(webhook, tampered, header)

    assert (answer.status, answer.json["detail"]) == (400, "signature does not match")
    assert optibase.received == []


def test_reserialised_json_no_longer_matches(webhook, optibase):
    # Verification must use the bytes as sent: the same JSON with other whitespace is another body.
    header = stripe_signature(PAID, SECRET)
    compact = PAID.replace(b"\n", b"").replace(b"  ", b"")

    assert deliver_with_header(webhook, compact, header).status == 400


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "body is not JSON"),
        (b"not json at all", "body is not JSON"),
        (b"[1, 2, 3]", "body is not a Stripe event"),
        (b'{"id": "evt_1", "type": "checkout.session.completed"}', "body is not a Stripe event"),
    ],
)
def test_signed_bodies_that_are_not_stripe_events_are_rejected(webhook, optibase, body, reason):
    answer = deliver_with_header(webhook, body, stripe_signature(body, SECRET))

    assert (answer.status, answer.json) == (400, {"outcome": "rejected", "detail": reason})
    assert optibase.received == []


@pytest.mark.parametrize(
    "session",
    [
        {"object": "invoice"},
        {"object": "checkout.session"},
        {"object": "checkout.session", "id": ""},
    ],
    ids=["other-object", "no-id", "empty-id"],
)
def test_signed_checkout_event_without_a_usable_session_is_acknowledged(
    webhook, optibase, caplog, session
):
    # Stripe signed it: a 4xx would only make Stripe retry for days and then disable the endpoint.
    event = {"id": "evt_1", "object": "event", "type": "checkout.session.completed"}
    body = json.dumps({**event, "data": {"object": session}}).encode()

    answer = deliver_with_header(webhook, body, stripe_signature(body, SECRET))

    assert (answer.status, answer.outcome) == (200, "skipped")
    assert optibase.received == []
    assert any(r.levelname == "ERROR" and "unusable" in r.getMessage() for r in caplog.records)


def test_unsigned_empty_request_is_rejected(webhook, optibase):
    answer = webhook.invoke({"version": "2.0", "headers": {}, "isBase64Encoded": False})

    assert (answer.status, answer.json["detail"]) == (400, "missing Stripe-Signature header")


def test_unknown_header_items_and_v0_are_ignored(webhook, optibase):
    header = (
        stripe_signature(PAID, SECRET)
        + ",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39,diag=xyz"
    )

    assert deliver_with_header(webhook, PAID, header).outcome == "converted"


def test_rolling_secret_any_of_several_v1_signatures_passes(webhook, optibase):
    # While Stripe rolls a secret it signs each delivery once per active secret.
    timestamp = int(time.time())
    old = stripe_signature(PAID, "whsec_old_secret", timestamp)
    new = stripe_signature(PAID, SECRET, timestamp)
    header = f"{old},{new.split(',', 1)[1]}"

    assert deliver_with_header(webhook, PAID, header).outcome == "converted"


def test_comma_separated_secrets_in_the_parameter_are_all_accepted(webhook, optibase, aws):
    ssm_put(aws, f"whsec_old_secret, {SECRET}")
    first = payload(
        fixture_event(
            "checkout.session.completed", id="cs_test_rotation_1", client_reference_id="a"
        )
    )
    second = payload(
        fixture_event(
            "checkout.session.completed", id="cs_test_rotation_2", client_reference_id="b"
        )
    )

    assert webhook.deliver(first, secret="whsec_old_secret").outcome == "converted"
    assert webhook.deliver(second, secret=SECRET).outcome == "converted"
    assert webhook.deliver(PAID, secret="whsec_third_secret").status == 400
    assert [body["testedUserId"] for body in optibase.conversions()] == ["a", "b"]


def test_missing_signing_secret_parameter_answers_5xx_and_sends_nothing(
    webhook, optibase, aws, caplog
):
    aws.client("ssm").delete_parameter(Name=PARAMETER)

    answer = webhook.deliver(PAID)

    assert (answer.status, answer.json["detail"]) == (500, "webhook signing secret unavailable")
    assert optibase.received == []
    [error] = [record for record in caplog.records if record.levelname == "ERROR"]
    assert PARAMETER in error.getMessage()
    assert "ParameterNotFound" in error.getMessage()


def test_signing_secret_is_cached_between_events(webhook, optibase, aws):
    webhook.deliver(PAID)
    aws.client("ssm").delete_parameter(Name=PARAMETER)
    other = payload(
        fixture_event("checkout.session.completed", id="cs_test_cached", client_reference_id="c")
    )

    assert webhook.deliver(other).outcome == "converted"


def ssm_put(aws, value: str) -> None:
    aws.client("ssm").put_parameter(
        Name=PARAMETER, Value=value, Type="SecureString", Overwrite=True
    )
