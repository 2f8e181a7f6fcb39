"""`make demo`: Stripe-signed Checkout events sent to `make local`, and what the webhook answered.

Run it in a second terminal while `make local` runs. It signs each event the way Stripe does, with
the same secret `make local` accepts (STRIPE_WEBHOOK_SECRET, else the local development secret),
and POSTs it over HTTP. Every run uses fresh Checkout Session ids, so conversions are new each
time. It doubles as a smoke test: the exit status is 1 when an answer is not the expected one.

The Checkout Sessions are realistic ones (devtools.stripe_events.sample_stripe_event, customer
details included); each case sets the fields it is about.
"""

import argparse
import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from devtools.local import WEBHOOK_PATH, default_port
from devtools.stripe_events import local_signing_secret, sample_stripe_event, stripe_signature

COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
EXPIRED = "checkout.session.expired"
# Signs the one delivery that must be refused.
WRONG_SECRET = "whsec_demo_not_the_configured_secret"  # noqa: S105


@dataclass(frozen=True)
class Case:
    title: str
    event_type: str
    session: str  # which of this run's Checkout Sessions; the same name means the same session id
    fields: dict[str, Any] = field(default_factory=dict)  # Checkout Session fields to set
    expected: tuple[int, str] = (200, "converted")
    repeat_previous: bool = False  # Stripe delivers the previous event again (a retry)
    secret: str | None = None  # None: the secret `make local` accepts


CASES = [
    Case(
        "card payment, visitor id in client_reference_id",
        COMPLETED,
        "card",
        {"payment_status": "paid", "client_reference_id": "{visitor}"},
    ),
    Case(
        "the same event delivered again (Stripe retries)",
        COMPLETED,
        "card",
        expected=(200, "duplicate"),
        repeat_previous=True,
    ),
    Case(
        "bank debit completes before the money arrives",
        COMPLETED,
        "bank",
        {"payment_status": "unpaid", "client_reference_id": "{visitor}-bank"},
        expected=(200, "skipped"),
    ),
    Case(
        "bank debit succeeds later",
        ASYNC_SUCCEEDED,
        "bank",
        {"payment_status": "paid", "client_reference_id": "{visitor}-bank"},
    ),
    Case(
        "external id in metadata.optibase_external_id",
        COMPLETED,
        "external",
        {"payment_status": "paid", "metadata": {"optibase_external_id": "{visitor}-ext"}},
    ),
    Case(
        "paid, but no visitor id (as from `stripe trigger`)",
        COMPLETED,
        "anonymous",
        {"payment_status": "paid", "client_reference_id": None},
        expected=(200, "skipped"),
    ),
    Case(
        "checkout expired unpaid",
        EXPIRED,
        "expired",
        {"status": "expired", "payment_status": "unpaid", "client_reference_id": "{visitor}"},
        expected=(200, "skipped"),
    ),
    Case(
        "signed with another secret",
        COMPLETED,
        "forged",
        {"payment_status": "paid", "client_reference_id": "{visitor}"},
        expected=(400, "rejected"),
        secret=WRONG_SECRET,
    ),
]


def stripe_event(case: Case, run: str) -> dict[str, Any]:
    """A Stripe event envelope around a Checkout Session with this run's ids."""
    session = sample_stripe_event(case.event_type)["data"]["object"]
    visitor = f"demo-visitor-{run}"
    for name, value in case.fields.items():
        session[name] = _fill(value, visitor)
    session["id"] = f"cs_test_demo_{case.session}_{run}"
    return {
        "id": f"evt_demo_{secrets.token_hex(8)}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "data": {"object": session},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": case.event_type,
    }


def _fill(value: Any, visitor: str) -> Any:
    if isinstance(value, str):
        return value.replace("{visitor}", visitor)
    if isinstance(value, dict):
        return {key: _fill(item, visitor) for key, item in value.items()}
    return value


def deliver(url: str, payload: bytes, secret: str) -> tuple[int, dict[str, Any]]:
    """POST as Stripe does; the status and the JSON answer (any status)."""
    request = urllib.request.Request(
        url,
        data=payload,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": stripe_signature(payload, secret),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, _json(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, _json(error.read())


def _json(body: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except ValueError:
        return {"outcome": "?", "detail": body[:200].decode("utf-8", "replace")}
    return answer if isinstance(answer, dict) else {"outcome": "?", "detail": str(answer)}


def run(url: str, secret: str) -> int:
    token = secrets.token_hex(4)
    print(f"Sending {len(CASES)} Stripe events to {url} (run {token})")
    failures = signature_mismatches = 0
    payload = b""
    for case in CASES:
        if not case.repeat_previous:
            payload = json.dumps(stripe_event(case, token), indent=2).encode()
        status, answer = deliver(url, payload, case.secret or secret)
        outcome, detail = answer.get("outcome", "?"), answer.get("detail", "")
        ok = (status, outcome) == case.expected
        failures += not ok
        if case.secret is None and answer.get("detail") == "signature does not match":
            signature_mismatches += 1
        verdict = "ok  " if ok else "FAIL"
        line = f"  {verdict} {status} {outcome:<10} {case.title}: {detail}"
        if not ok:
            line += f"  (expected {case.expected[0]} {case.expected[1]})"
        print(line)
    if signature_mismatches:
        print(
            "The server signs with another secret: run `make local` and `make demo` with the same"
            " STRIPE_WEBHOOK_SECRET (or neither)."
        )
    print(f"{len(CASES) - failures}/{len(CASES)} answers as expected.")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.demo", description="Send signed Stripe events to `make local`."
    )
    parser.add_argument("--port", type=int, default=default_port(), help="default: $PORT or 3000")
    args = parser.parse_args(argv)
    secret, _ = local_signing_secret()
    url = f"http://127.0.0.1:{args.port}{WEBHOOK_PATH}"
    try:
        return run(url, secret)
    except OSError as error:  # connection refused, timeout: urllib wraps them in URLError
        reason = getattr(error, "reason", error)
        print(f"Cannot reach {url} ({reason}): is `make local` running (on that port)?")
        return 2


if __name__ == "__main__":
    sys.exit(main())
