"""A stuck AWS endpoint still leaves time to answer Stripe, and nothing is sent to Optibase."""

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.conftest import (
    finish_instance,
    fixture_event,
    invoke_instance,
    payload,
    start_instance,
)

FUNCTION_TIMEOUT = 15  # template.yaml's Timeout, which the instance's context also uses


@pytest.fixture
def black_hole() -> Iterator[str]:
    """Accepts TCP connections and never answers: a hung endpoint, not a refused one."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


@pytest.mark.parametrize(
    ("stuck", "detail"),
    [
        ("AWS_ENDPOINT_URL_SSM", "webhook signing secret unavailable"),
        ("AWS_ENDPOINT_URL_DYNAMODB", "exactly-once record store unavailable"),
    ],
)
def test_hung_aws_service_answers_5xx_inside_the_timeout(
    webhook, optibase, function_env, black_hole, stuck, detail
):
    body = payload(fixture_event("checkout.session.completed", client_reference_id="visitor-1"))

    instance = start_instance({**function_env, stuck: black_hole})
    started = time.monotonic()
    invoke_instance(instance, body)
    answer = finish_instance(instance)
    elapsed = time.monotonic() - started

    assert (answer["statusCode"], json.loads(answer["body"])["detail"]) == (500, detail)
    assert elapsed < FUNCTION_TIMEOUT  # may include the end of its imports
    assert optibase.received == []
