"""Real stand-ins for the webhook's neighbours: moto's server (SSM, DynamoDB) and Optibase.

handler reads its configuration at import, like Lambda does at cold start, so it is imported
only after the stand-ins are up and the environment points at them.
"""

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from devtools.aws import MotoServer, provision
from devtools.lambda_context import LocalLambdaContext
from devtools.optibase_standin import OptibaseStandIn
from devtools.stripe_events import http_api_event, sample_stripe_event, stripe_signature
from devtools.template import function_environment, load_template

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_test_signing_secret_for_the_suite"
PARAMETER = "/optibase-stripe/webhook-secret"
TABLE = "optibase-stripe-idempotency"
PUBLIC_API_KEY = "pk_optibase_public_test"
CONVERSION_ID = "Stripe Purchase"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def optibase() -> Iterator[OptibaseStandIn]:
    with OptibaseStandIn() as standin:
        yield standin


@pytest.fixture(scope="session")
def function_env(moto_server: MotoServer, optibase: OptibaseStandIn) -> dict[str, str]:
    """The deployed function's environment (from template.yaml), pointed at the stand-ins."""
    environment = function_environment(
        load_template(),
        {
            "StripeWebhookSecretParameterName": PARAMETER,
            "OptibasePublicApiKey": PUBLIC_API_KEY,
            "OptibaseConversionId": CONVERSION_ID,
            "IdempotencyTable": TABLE,
        },
    )
    environment["OPTIBASE_ENDPOINT"] = optibase.url
    environment.update(moto_server.client_environment())
    return environment


@pytest.fixture(scope="session")
def handler_module(function_env: dict[str, str]) -> Iterator[ModuleType]:
    saved = dict(os.environ)
    os.environ.update(function_env)
    yield importlib.import_module("handler")
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def aws(moto_server: MotoServer, handler_module: ModuleType) -> MotoServer:
    """A fresh account: the signing secret parameter and an empty idempotency table."""
    moto_server.reset()
    importlib.import_module("webhook.signing_secrets").SSM.clear_cache()  # a cold start's view
    provision(moto_server.endpoint, PARAMETER, SECRET, TABLE)
    return moto_server


@pytest.fixture
def webhook(handler_module: ModuleType, aws: MotoServer, optibase: OptibaseStandIn) -> "Webhook":
    optibase.received.clear()
    optibase.replies.clear()
    return Webhook(handler_module)


class Webhook:
    """Calls lambda_handler as API Gateway would, and reads its JSON answer."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def invoke(self, event: dict[str, Any], timeout_seconds: float = 15.0) -> "Answer":
        response = self.module.lambda_handler(event, LocalLambdaContext(timeout_seconds))
        return Answer(response)

    def deliver(self, payload: bytes, secret: str = SECRET, **kwargs: Any) -> "Answer":
        headers = {"Stripe-Signature": stripe_signature(payload, secret)}
        return self.invoke(http_api_event(payload, headers), **kwargs)


class Answer:
    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response
        self.status: int = response["statusCode"]
        self.json: dict[str, str] = json.loads(response["body"])
        self.outcome = self.json["outcome"]

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.json})"


def fixture_event(name: str, **session_fields: Any) -> dict[str, Any]:
    """A realistic Stripe event (the shared fixtures) with Checkout Session fields replaced."""
    event = sample_stripe_event(name)
    event["data"]["object"].update(session_fields)
    return event


def payload(event: dict[str, Any]) -> bytes:
    return json.dumps(event, indent=2, ensure_ascii=False).encode("utf-8")


# One Lambda instance: a fresh interpreter that imports handler (its cold start), then waits for
# one event on stdin, handles it with the given Timeout and prints the answer.
LAMBDA_INSTANCE = """
import json, sys
import handler
from devtools.lambda_context import LocalLambdaContext
event = json.load(sys.stdin)
response = handler.lambda_handler(event, LocalLambdaContext(float(sys.argv[1])))
print(json.dumps(response))
"""


def start_instance(environment: dict[str, str], timeout: float = 15) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LAMBDA_INSTANCE, str(timeout)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **environment, "POWERTOOLS_LOG_LEVEL": "ERROR"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def invoke_instance(process: subprocess.Popen[str], body: bytes) -> None:
    """Hand the instance a freshly signed delivery of `body`."""
    event = http_api_event(body, {"Stripe-Signature": stripe_signature(body, SECRET)})
    assert process.stdin
    process.stdin.write(json.dumps(event))
    process.stdin.close()


def finish_instance(process: subprocess.Popen[str]) -> dict:
    assert process.stdout
    output = process.stdout.read()
    assert process.wait(timeout=60) == 0
    # The answer is the last line; Powertools' metrics line comes before it.
    return json.loads(output.strip().splitlines()[-1])
