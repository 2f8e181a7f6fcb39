"""Regenerate events/: API Gateway events carrying signed Stripe deliveries, for `sam local invoke`.

Stripe signatures expire after 300 s, so run `make events` right before invoking. The secret is
STRIPE_WEBHOOK_SECRET from the environment (the value the function reads from SSM), or the local
development secret when unset. Each file's Stripe event body is kept byte for byte and only its
Stripe-Signature header is renewed. `--from-fixtures DIR` rebuilds the bodies from the Stripe
fixtures instead (../shared/stripe-fixtures), applying the edits listed in SAMPLES.

    python -m devtools.sign_events [--from-fixtures DIR]
"""

import argparse
import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.stripe_events import (
    SECRET_VARIABLE,
    http_api_event,
    local_signing_secret,
    rest_api_event,
    stripe_signature,
)

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "events"
FIXTURES_DIR = ROOT.parent / "shared" / "stripe-fixtures"
# bad-signature.json is signed with this: a real whsec_ secret, but some other endpoint's.
FOREIGN_SECRET = "whsec_some_other_endpoints_secret"  # noqa: S105 (deliberately the wrong one)

# A visitor id as Optibase's page script exposes it (window.optibaseTestedUserId): 25 lower-case
# letters and digits, passed to Checkout as client_reference_id.
TESTED_USER_ID = "clx8f2k9a0001qz7b3m5n6p4r"
# An id of the merchant's own, assigned with optibaseSetTestedUserExternalId and put in metadata.
TESTED_USER_EXTERNAL_ID = "customer-4711"

_NO_VISITOR = '      "client_reference_id": null,'
_WITH_VISITOR = (_NO_VISITOR, f'      "client_reference_id": "{TESTED_USER_ID}",')
_PAID_SESSION = "cs_test_a1UejXx8ebIdTzFolicVypUAZpOBVkoQKDbaarXoPlPVtj8p0zujPEEhjT"

HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
}


@dataclass(frozen=True)
class Sample:
    """One file in events/: which fixture, how it differs from it, how it is delivered."""

    file: str
    fixture: str
    outcome: str  # what the webhook answers, for people reading `make events` output
    # Text replacements on the fixture's bytes (each must match exactly once), so that everything
    # else stays exactly as stored.
    edits: tuple[tuple[str, str], ...] = ()
    rest_api: bool = False  # REST API (payload 1.0) instead of HTTP API (2.0)
    foreign_secret: bool = False  # signed with FOREIGN_SECRET


SAMPLES = (
    Sample(
        "checkout-session-completed.json",
        "checkout.session.completed.json",
        "200 converted (testedUserId from client_reference_id)",
        edits=(_WITH_VISITOR,),
    ),
    Sample(
        "checkout-session-completed-external-id.json",
        "checkout.session.completed.json",
        "200 converted (testedUserExternalId from metadata.optibase_external_id)",
        edits=(
            ('"id": "evt_1FixtureCheckoutCompleted01"', '"id": "evt_1FixtureCheckoutExtId0001"'),
            (_PAID_SESSION, "cs_test_a1ExtIdX8ebIdTzFolicVypUAZpOBVkoQKDbaarXoPlPVtj8p0zujPEEhjT"),
            (
                '      "metadata": {},',
                '      "metadata": {\n'
                f'        "optibase_external_id": "{TESTED_USER_EXTERNAL_ID}"\n'
                "      },",
            ),
        ),
    ),
    Sample(
        "checkout-session-completed-unpaid.json",
        "checkout.session.completed.json",
        "200 skipped (payment not settled: async_payment_succeeded follows)",
        edits=(
            ('"id": "evt_1FixtureCheckoutCompleted01"', '"id": "evt_1FixtureCheckoutUnpaid001"'),
            ('      "payment_status": "paid",', '      "payment_status": "unpaid",'),
            _WITH_VISITOR,
        ),
    ),
    Sample(
        "checkout-session-async-payment-succeeded.json",
        "checkout.session.async_payment_succeeded.json",
        "200 converted, or duplicate once its session was converted",
        edits=(_WITH_VISITOR,),
    ),
    Sample(
        "checkout-session-async-payment-failed.json",
        "checkout.session.async_payment_failed.json",
        "200 skipped (not a purchase)",
    ),
    Sample(
        "checkout-session-expired.json",
        "checkout.session.expired.json",
        "200 skipped (not a purchase)",
    ),
    Sample(
        "bad-signature.json",
        "checkout.session.completed.json",
        "400 rejected (signed with another endpoint's secret)",
        edits=(_WITH_VISITOR,),
        foreign_secret=True,
    ),
    Sample(
        "rest-api-checkout-session-completed.json",
        "checkout.session.completed.json",
        "200 converted, as REST API (payload 1.0) delivers it",
        edits=(_WITH_VISITOR,),
        rest_api=True,
    ),
)


def fixture_body(sample: Sample, fixtures: Path = FIXTURES_DIR) -> bytes:
    """The sample's Stripe event: the fixture's bytes with the sample's edits, nothing else."""
    text = (fixtures / sample.fixture).read_bytes().decode("utf-8")
    for old, new in sample.edits:
        if text.count(old) != 1:
            raise ValueError(f"{sample.fixture}: {old!r} occurs {text.count(old)} times, not once")
        text = text.replace(old, new)
    return text.encode("utf-8")


def event_body(event: dict[str, Any]) -> bytes:
    """The exact bytes an API Gateway event carries (and that were signed)."""
    body = event["body"]
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


def signed_event(
    sample: Sample, body: bytes, secret: str, timestamp: int | None = None
) -> dict[str, Any]:
    """The API Gateway event delivering `body`, signed at `timestamp` (default: now)."""
    key = FOREIGN_SECRET if sample.foreign_secret else secret
    headers = {**HEADERS, "Stripe-Signature": stripe_signature(body, key, timestamp)}
    return rest_api_event(body, headers) if sample.rest_api else http_api_event(body, headers)


def write_events(
    secret: str,
    *,
    timestamp: int | None = None,
    fixtures: Path | None = None,
    source: Path = EVENTS_DIR,
    target: Path = EVENTS_DIR,
) -> list[Path]:
    """Write every sample to `target`, its body from `fixtures` if given, else from `source`."""
    bodies = {}
    for sample in SAMPLES:  # read everything first: source and target may be the same directory
        if fixtures is not None:
            bodies[sample.file] = fixture_body(sample, fixtures)
        else:
            path = source / sample.file
            if not path.exists():
                raise FileNotFoundError(f"{path} is missing: rebuild it with --from-fixtures")
            bodies[sample.file] = event_body(json.loads(path.read_text(encoding="utf-8")))
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for sample in SAMPLES:
        event = signed_event(sample, bodies[sample.file], secret, timestamp)
        path = target / sample.file
        path.write_text(json.dumps(event, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def signing_secret() -> tuple[str, str]:
    """The secret to sign with, and where it came from (never the value, for printing)."""
    secret, from_environment = local_signing_secret()
    return secret, SECRET_VARIABLE if from_environment else "the local development secret"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--from-fixtures",
        type=Path,
        metavar="DIR",
        help="rebuild the Stripe event bodies from the fixtures in DIR (with SAMPLES' edits)",
    )
    arguments = parser.parse_args(argv)
    secret, origin = signing_secret()
    written = write_events(secret, fixtures=arguments.from_fixtures)
    print(f"Signed {len(written)} events with {origin}; valid for 300 s:")
    for sample, path in zip(SAMPLES, written, strict=True):
        print(f"  {path.relative_to(ROOT)}: {sample.outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
