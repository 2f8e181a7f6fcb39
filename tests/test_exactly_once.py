"""One Optibase conversion per Checkout Session, whatever Stripe's deliveries do."""

import importlib
import json
import threading
import time
from collections.abc import Iterator

import pytest

from tests.conftest import (
    TABLE,
    finish_instance,
    fixture_event,
    invoke_instance,
    payload,
    start_instance,
)

VISITOR = "clx8f2k9a0001qz7b3m5n6p4r"


def test_redelivered_event_converts_once(webhook, optibase):
    body = payload(fixture_event("checkout.session.completed", client_reference_id=VISITOR))

    first = webhook.deliver(body)
    second = webhook.deliver(body)  # Stripe re-signs each retry with a new timestamp

    assert (first.status, first.outcome) == (200, "converted")
    assert (second.status, second.outcome) == (200, "duplicate")
    assert len(optibase.received) == 1


def test_two_events_for_one_session_convert_once(webhook, optibase):
    completed = fixture_event("checkout.session.completed", client_reference_id=VISITOR)
    succeeded = fixture_event(
        "checkout.session.async_payment_succeeded", client_reference_id=VISITOR
    )
    assert completed["id"] != succeeded["id"]

    outcomes = [webhook.deliver(payload(event)).outcome for event in (succeeded, completed)]

    assert outcomes == ["converted", "duplicate"]
    assert len(optibase.received) == 1


def test_different_sessions_each_convert(webhook, optibase):
    for session_id in ("cs_test_one", "cs_test_two"):
        event = fixture_event(
            "checkout.session.completed", id=session_id, client_reference_id=VISITOR
        )
        assert webhook.deliver(payload(event)).outcome == "converted"

    assert len(optibase.received) == 2


def test_record_outlives_stripes_retry_window(webhook, optibase, aws):
    body = payload(fixture_event("checkout.session.completed", client_reference_id=VISITOR))
    webhook.deliver(body)

    [item] = aws.client("dynamodb").scan(TableName=TABLE)["Items"]

    assert item["status"]["S"] == "COMPLETED"
    # A fixed key prefix: renaming the function or replacing the stack's Lambda keeps the records.
    assert item["id"]["S"].startswith("checkout-session#")
    assert int(item["expiration"]["N"]) - time.time() >= 3 * 24 * 3600


class HeldOptibase:
    """Optibase receives the call but holds its answer until released: a call in flight."""

    def __init__(self, optibase) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()
        optibase.on_request = self._hold

    def _hold(self, _request) -> None:
        self.reached.set()
        self.release.wait(timeout=30)

    def wait_until_reached(self) -> None:
        assert self.reached.wait(timeout=60), "no instance reached Optibase"


@pytest.fixture
def held_optibase(optibase) -> Iterator[HeldOptibase]:
    held = HeldOptibase(optibase)
    yield held
    optibase.on_request = None
    held.release.set()


def test_racing_deliveries_in_two_lambda_instances_send_once(
    webhook, optibase, aws, function_env, held_optibase
):
    body = payload(fixture_event("checkout.session.completed", client_reference_id=VISITOR))
    # Both instances finish their cold start first, so the race is only between the deliveries.
    first, second = start_instance(function_env), start_instance(function_env)

    invoke_instance(first, body)
    held_optibase.wait_until_reached()
    # The first instance is inside its Optibase call: a second instance gets the same session.
    invoke_instance(second, body)
    second_answer = finish_instance(second)
    held_optibase.release.set()
    first_answer = finish_instance(first)

    assert outcome(second_answer) == (409, "in progress")
    assert outcome(first_answer) == (200, "converted")
    # Stripe retries the 409 later: by then the session is converted.
    assert webhook.deliver(body).outcome == "duplicate"
    assert len(optibase.received) == 1


def test_crashed_invocation_blocks_retries_only_until_its_timeout(
    webhook, optibase, function_env, held_optibase
):
    body = payload(fixture_event("checkout.session.completed", client_reference_id=VISITOR))
    timeout = 9.0  # the crashed instance's Timeout: its "in progress" record lives that long
    instance = start_instance(function_env, timeout)

    invoke_instance(instance, body)
    started = time.monotonic()
    held_optibase.wait_until_reached()
    instance.kill()  # the Lambda dies inside the Optibase call, recording nothing
    instance.wait()
    held_optibase.release.set()

    assert webhook.deliver(body).outcome == "in progress"  # it might still be running
    time.sleep(max(0.0, started + timeout + 1 - time.monotonic()))
    assert webhook.deliver(body).outcome == "converted"  # Stripe's retry is not blocked for good
    assert len(optibase.received) == 2


def outcome(response: dict) -> tuple[int, str]:
    return response["statusCode"], json.loads(response["body"])["outcome"]


def test_unreachable_record_store_answers_5xx_and_sends_nothing(webhook, optibase, aws, caplog):
    aws.client("dynamodb").delete_table(TableName=TABLE)
    body = payload(fixture_event("checkout.session.completed", client_reference_id=VISITOR))

    answer = webhook.deliver(body)

    assert (answer.status, answer.outcome) == (500, "failed")
    assert optibase.received == []
    assert any("record store unavailable" in r.getMessage() for r in caplog.records)


def test_record_not_marked_completed_after_the_send_still_answers_2xx(webhook, optibase, caplog):
    # Only UpdateItem fails: a fault moto cannot play, injected on the function's own client.
    records = importlib.import_module("webhook.exactly_once").records

    def fail(**_kwargs) -> None:
        raise RuntimeError("DynamoDB unavailable")

    records.client.meta.events.register("before-call.dynamodb.UpdateItem", fail)
    try:
        body = payload(fixture_event("checkout.session.completed", client_reference_id=VISITOR))
        answer = webhook.deliver(body)
        retry = webhook.deliver(body)
    finally:
        records.client.meta.events.unregister("before-call.dynamodb.UpdateItem", fail)

    # Optibase has it: a 5xx would make Stripe send it again once the record expired.
    assert (answer.status, answer.outcome) == (200, "converted")
    assert any("not marked completed" in r.getMessage() for r in caplog.records)
    # The "in progress" record still stops a retry within the invocation's lifetime.
    assert (retry.status, retry.outcome) == (409, "in progress")
    assert len(optibase.received) == 1
