"""`make local` and `make demo`, as a user runs them: real processes, real HTTP, real signals."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devtools.aws import free_port
from devtools.local import STANDIN_CONVERSION_ID, STANDIN_PUBLIC_API_KEY
from devtools.optibase_standin import OptibaseStandIn
from devtools.stripe_events import stripe_signature

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_test_secret_for_make_local"
VISITOR = "local-visitor-1"
STARTUP_SECONDS = 60  # moto's first start imports a lot; generous for a loaded CI machine


class LocalProcess:
    """`python -m devtools.local` on a free port; its console (stdout and stderr) collected."""

    def __init__(self, *args: str, wait: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/stripe/webhook"
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.local", "--port", str(self.port), *args],
            cwd=ROOT,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if wait:
            self.wait_for("Ready: listening on", STARTUP_SECONDS)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in self.lines if text in line]
                if found:
                    return found[-1]
                if self.process.poll() is not None and self.process.stdout.closed:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(min(left, 0.5))
        raise AssertionError(f"no {text!r} in the output of make local:\n{self.console}")

    @property
    def console(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def descendants(self) -> list[int]:
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            for children in Path(f"/proc/{pid}/task").glob("*/children"):
                for child in map(int, children.read_text().split()):
                    found.append(child)
                    todo.append(child)
        return found

    def stop(self, signum: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                return self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return self.process.returncode


def clean_env(**extra: str) -> dict[str, str]:
    """The test runner's environment without anything that configures the handler or AWS."""
    prefixes = ("AWS_", "OPTIBASE_", "POWERTOOLS_", "STRIPE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.pop("IDEMPOTENCY_TABLE", None)
    env.pop("PORT", None)
    env.update(PYTHONUNBUFFERED="1", STRIPE_WEBHOOK_SECRET=SECRET, **extra)
    return env


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def post(
    url: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, requests.structures.CaseInsensitiveDict, bytes]:
    response = requests.request(method, url, data=body or None, headers=headers, timeout=30)
    return response.status_code, response.headers, response.content


def checkout_completed(session_id: str, **fields: object) -> bytes:
    session = {
        "id": session_id,
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "client_reference_id": VISITOR,
        "customer_details": {"email": "jenny.rosen@example.com", "name": "Jenny Rosen"},
        "metadata": {},
        **fields,
    }
    event = {
        "id": f"evt_test_{session_id}",
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": session},
    }
    return json.dumps(event, indent=2).encode()


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "Stripe-Signature": stripe_signature(body, secret)}


def answer(body: bytes) -> tuple[str, str]:
    parsed = json.loads(body)
    return parsed["outcome"], parsed["detail"]


@pytest.fixture(scope="module")
def standin() -> Iterator[OptibaseStandIn]:
    with OptibaseStandIn() as server:
        yield server


@pytest.fixture(scope="module")
def local(standin: OptibaseStandIn) -> Iterator[LocalProcess]:
    process = LocalProcess("--optibase-url", standin.url)
    yield process
    process.stop()


def test_startup_says_what_is_used_without_showing_the_secret(local, standin):
    console = local.console
    assert f"POST {local.url}" in console
    assert "from STRIPE_WEBHOOK_SECRET (not shown)" in console
    assert standin.url in console
    assert f"stripe listen --forward-to localhost:{local.port}/stripe/webhook" in console
    assert SECRET not in console


def test_signed_checkout_converts_once(local, standin):
    standin.received.clear()
    body = checkout_completed("cs_test_local_once")

    status, headers, reply = post(local.url, body, signed(body))

    assert (status, answer(reply)) == (200, ("converted", "testedUserId"))
    assert headers["Content-Type"] == "application/json"
    [request] = standin.received
    assert request.path == "/api/script/conversionEvent"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "publicApiKey": STANDIN_PUBLIC_API_KEY,
        "userFriendlyConversionId": STANDIN_CONVERSION_ID,
        "testedUserId": VISITOR,
    }
    line = local.wait_for("cs_test_local_once  ->  200 converted")
    assert "checkout.session.completed" in line

    # Stripe's retry of the same event, signed anew: answered, not sent again.
    status, _, reply = post(local.url, body, signed(body))

    assert (status, answer(reply)) == (200, ("duplicate", "session already converted"))
    assert len(standin.received) == 1
    local.wait_for("cs_test_local_once  ->  200 duplicate: session already converted")


def test_unsigned_and_wrongly_signed_requests_are_rejected(local, standin):
    standin.received.clear()
    body = checkout_completed("cs_test_local_unsigned")

    status, _, reply = post(local.url, body, {"Content-Type": "application/json"})
    assert (status, answer(reply)) == (400, ("rejected", "missing Stripe-Signature header"))

    status, _, reply = post(local.url, body, signed(body, "whsec_someone_else"))
    assert (status, answer(reply)) == (400, ("rejected", "signature does not match"))

    assert standin.received == []
    local.wait_for("(unverified request)  ->  400 rejected: signature does not match")


def test_a_body_that_is_not_utf8_reaches_the_handler_unchanged(local):
    # API Gateway passes such a body base64-encoded; the handler decodes it and refuses it as
    # not UTF-8 (only after the bytes arrived intact can it tell).
    body = b'{"id": "evt_\xff\xfe"}'
    status, _, reply = post(local.url, body, {"Stripe-Signature": "t=1,v1=00"})

    assert (status, answer(reply)) == (400, ("rejected", "body is not UTF-8"))


def test_other_paths_and_methods(local):
    status, headers, _ = post(local.url, b"", method="GET")
    assert (status, headers.get("Allow")) == (405, "POST")
    assert post(local.url.replace("/stripe/webhook", "/stripe/other"), b"{}")[0] == 404
    assert post(local.url.replace("/stripe/webhook", "/"), b"", method="GET")[0] == 404


def test_demo_gets_the_expected_answers_every_run(local, standin):
    standin.received.clear()

    demo = subprocess.run(
        [sys.executable, "-m", "devtools.demo", "--port", str(local.port)],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "8/8 answers as expected." in demo.stdout
    # Fresh session ids each run: three new conversions each time, the retry not among them.
    assert len(standin.received) == 3


def test_console_shows_no_secrets_bodies_customer_details_or_json_logs(local):
    console = local.console
    assert SECRET not in console
    assert "jenny" not in console.lower()
    assert '"object": "event"' not in console
    assert not [line for line in console.splitlines() if line.startswith("{")]


def test_ctrl_c_stops_everything_it_started(local):
    children = local.descendants()
    assert children, "moto's server should be a child process"
    assert all(alive(pid) for pid in children)

    assert local.stop(signal.SIGINT) == 0

    local.wait_for("Stopped everything it started.")
    assert [pid for pid in children if alive(pid)] == []


def test_builtin_optibase_standin_prints_conversions_and_sigterm_stops_all():
    local = LocalProcess()
    try:
        assert "built-in stand-in at http://127.0.0.1:" in local.console
        body = checkout_completed("cs_test_local_builtin")
        status, _, reply = post(local.url, body, signed(body))
        assert (status, answer(reply)) == (200, ("converted", "testedUserId"))
        printed = local.wait_for("Optibase stand-in received")
        assert json.loads(printed.split("received ", 1)[1]) == {
            "publicApiKey": STANDIN_PUBLIC_API_KEY,
            "userFriendlyConversionId": STANDIN_CONVERSION_ID,
            "testedUserId": VISITOR,
        }
        children = local.descendants()
        assert children
    finally:
        returncode = local.stop(signal.SIGTERM)

    assert returncode == 0
    assert [pid for pid in children if alive(pid)] == []


def test_a_signal_during_start_up_stops_what_was_started_so_far():
    local = LocalProcess(wait=False)
    deadline = time.monotonic() + STARTUP_SECONDS
    while not (children := local.descendants()):  # moto's server is starting
        assert local.process.poll() is None and time.monotonic() < deadline, local.console
        time.sleep(0.02)

    assert local.stop(signal.SIGTERM) == 0

    assert "Ready" not in local.console
    assert [pid for pid in children if alive(pid)] == []
