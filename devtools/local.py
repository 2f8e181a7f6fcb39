"""`make local`: the real webhook handler on 127.0.0.1:3000/stripe/webhook, without AWS or Docker.

Each HTTP request becomes the API Gateway HTTP API (payload 2.0) event the deployed function
receives, and goes to the same `handler.lambda_handler`; its answer goes back as the HTTP response.
SSM and DynamoDB are moto's server on loopback, provisioned as template.yaml defines them.
Optibase is a built-in stand-in unless OPTIBASE_PUBLIC_API_KEY is set, so nothing leaves this
machine by accident. Ctrl-C (or SIGTERM) stops everything this command started.

Point the Stripe CLI at it: `stripe listen --forward-to localhost:3000/stripe/webhook`.
"""

import argparse
import base64
import errno
import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, ModuleType
from typing import Any
from urllib.parse import urlsplit

from devtools.aws import MotoServer, provision
from devtools.lambda_context import LocalLambdaContext
from devtools.optibase_standin import OptibaseStandIn, Received
from devtools.stripe_events import (
    LOCAL_WEBHOOK_SECRET,
    SECRET_VARIABLE,
    http_api_event,
    local_signing_secret,
)
from devtools.template import function_environment, load_template

DEFAULT_PORT = 3000
WEBHOOK_PATH = "/stripe/webhook"
TABLE_NAME = "optibase-stripe-idempotency-local"
# What the handler sends when conversions go to a stand-in, not to Optibase.
STANDIN_PUBLIC_API_KEY = "local-standin-public-api-key"
STANDIN_CONVERSION_ID = "Stripe Purchase"  # the name Optibase's Stripe guide uses
# API Gateway's own payload limit; the handler refuses far smaller bodies itself.
MAX_GATEWAY_BODY = 10 * 1024 * 1024
DESCRIPTION = "The real webhook handler on loopback, with local stand-ins for AWS and Optibase."
# Environment that would send boto3 somewhere other than the local moto server, or leak a session.
_AWS_OVERRIDES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def signing_secret() -> tuple[str, str]:
    """The Stripe signing secret to accept, and how to describe where it came from."""
    secret, from_environment = local_signing_secret()
    if from_environment:
        return secret, f"from {SECRET_VARIABLE} (not shown)"
    return secret, f"{secret} (the local development secret; {SECRET_VARIABLE} overrides it)"


def default_port() -> int:
    return int(os.environ.get("PORT") or DEFAULT_PORT)


@dataclass(frozen=True)
class OptibaseTarget:
    """Where conversions go. `endpoint` None means the built-in stand-in."""

    endpoint: str | None
    public_api_key: str
    conversion_id: str
    description: str


class ConfigurationError(Exception):
    """The environment asks for something that cannot run; the message says what to set."""


def optibase_target(template: dict[str, Any], endpoint_option: str | None) -> OptibaseTarget:
    """The real Optibase only when OPTIBASE_PUBLIC_API_KEY is set; otherwise a stand-in."""
    key = os.environ.get("OPTIBASE_PUBLIC_API_KEY", "").strip()
    conversion_id = os.environ.get("OPTIBASE_CONVERSION_ID", "").strip()
    endpoint = endpoint_option or os.environ.get("OPTIBASE_ENDPOINT") or None
    if key:
        if not conversion_id:
            # template.yaml has no default either: it must match the Optibase conversion exactly.
            raise ConfigurationError(
                "OPTIBASE_PUBLIC_API_KEY is set but OPTIBASE_CONVERSION_ID is not: set it to the"
                " id of your Programmatic conversion (e.g. 'Stripe Purchase'), or unset the key"
                " to use the built-in Optibase stand-in."
            )
        variables = template["Resources"]["WebhookFunction"]["Properties"]["Environment"]
        real = endpoint or variables["Variables"]["OPTIBASE_ENDPOINT"]
        where = "the REAL Optibase" if real == variables["Variables"]["OPTIBASE_ENDPOINT"] else real
        return OptibaseTarget(
            real, key, conversion_id, f"{where}, conversion id {conversion_id!r}, your public key"
        )
    conversion_id = conversion_id or STANDIN_CONVERSION_ID
    if endpoint:
        return OptibaseTarget(
            endpoint,
            STANDIN_PUBLIC_API_KEY,
            conversion_id,
            f"{endpoint} (no OPTIBASE_PUBLIC_API_KEY: sent with a placeholder key)",
        )
    return OptibaseTarget(None, STANDIN_PUBLIC_API_KEY, conversion_id, "built-in stand-in")


class LocalFunction:
    """One warm Lambda instance: invocations run one at a time, like Lambda runs them per instance.

    The handler keeps per-invocation state in module globals (Powertools Logger keys, Metrics,
    the idempotency config's Lambda context), so concurrent calls in one process would mix it.
    """

    def __init__(self, handler: ModuleType, timeout_seconds: float) -> None:
        self._handler = handler
        self._timeout_seconds = timeout_seconds
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The handler's response, and the log keys it set from the verified event (for display)."""
        with self._lock:
            context = LocalLambdaContext(timeout_seconds=self._timeout_seconds)
            response = self._handler.lambda_handler(event, context)
            # The handler appends stripe_event_type and checkout_session_id to its Logger only once
            # the signature is verified; the keys are reset at the start of the next invocation.
            return response, dict(self._handler.logger.get_current_keys())


class WebhookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _RequestHandler)
        self.function: LocalFunction | None = None


class _RequestHandler(BaseHTTPRequestHandler):
    server: WebhookServer
    server_version = "optibase-stripe-local"
    timeout = 30  # a client that stalls mid-request cannot hold a thread forever

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path != WEBHOOK_PATH:
            self._reply_plain(404, "Not Found")
            return
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._reply_plain(411, "Length Required")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._reply_plain(400, "Bad Request")
            return
        if length > MAX_GATEWAY_BODY:
            self._reply_plain(413, "Request Entity Too Large")
            return
        body = self.rfile.read(length)
        event = self._event(body, url.query)
        function = self.server.function
        if function is None:  # not reachable: requests are served only after set-up
            self._reply_plain(503, "Service Unavailable")
            return
        try:
            response, keys = function.invoke(event)
        except Exception:
            # What API Gateway answers when the function itself fails; the traceback stays visible.
            traceback.print_exc()
            self._reply_plain(500, "Internal Server Error", "handler raised")
            return
        self._reply(response, keys)

    def _not_post(self) -> None:
        if urlsplit(self.path).path == WEBHOOK_PATH:
            self._reply_plain(405, "Method Not Allowed", headers={"Allow": "POST"})
        else:
            self._reply_plain(404, "Not Found")

    do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _not_post  # noqa: N815

    def _event(self, body: bytes, query: str) -> dict[str, Any]:
        """The HTTP API 2.0 event: headers lowercased (repeats joined by commas), raw body bytes."""
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        try:
            body.decode("utf-8")
            binary = False
        except UnicodeDecodeError:
            binary = True  # API Gateway passes such a body base64-encoded
        event = http_api_event(body, headers, base64_body=binary)
        event["rawQueryString"] = query
        event["requestContext"]["http"]["sourceIp"] = self.client_address[0]
        event["requestContext"]["http"]["userAgent"] = headers.get("user-agent", "")
        return event

    def _reply(self, response: dict[str, Any], keys: dict[str, Any]) -> None:
        status = int(response.get("statusCode", 200))
        body = response.get("body") or ""
        payload = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        self._send(status, response.get("headers") or {}, payload)
        print(_request_line(status, payload, keys), flush=True)

    def _reply_plain(
        self, status: int, message: str, note: str = "", headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps({"message": message}).encode()
        self._send(status, {"Content-Type": "application/json", **(headers or {})}, payload)
        what = f"{self.command} {_printable(urlsplit(self.path).path)}"
        print(f"{_now()}  {what}  ->  {status} {note or message.lower()}", flush=True)

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is printed by _reply / _reply_plain instead


def _request_line(status: int, payload: bytes, keys: dict[str, Any]) -> str:
    """`time  event type  session id  ->  status outcome: why`, from verified values only."""
    try:
        answer = json.loads(payload)
        outcome, detail = answer["outcome"], answer["detail"]
    except (ValueError, KeyError, TypeError):
        outcome, detail = "answered", ""
    if outcome == "converted":
        result = f"converted ({detail})"  # detail: the Optibase field used, e.g. testedUserId
    else:
        result = f"{outcome}: {detail}" if detail else outcome
    event_type = keys.get("stripe_event_type")
    if not event_type:  # not verified: nothing from the body is worth printing
        return f"{_now()}  (unverified request)  ->  {status} {result}"
    session = keys.get("checkout_session_id") or "-"
    return f"{_now()}  {event_type}  {session}  ->  {status} {result}"


def _now() -> str:
    return time.strftime("%H:%M:%S")


def _printable(text: str, limit: int = 80) -> str:
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


def _print_conversion(request: Received) -> None:
    try:
        shown = json.dumps(request.json(), ensure_ascii=False)
    except ValueError:
        shown = _printable(request.body.decode("utf-8", "replace"), 500)
    print(f"{_now()}  Optibase stand-in received {shown}", flush=True)


class Stopper:
    """Ctrl-C and SIGTERM. While serving, they interrupt at once. During start-up they take effect
    at the next checkpoint, so no stand-in is ever left half-started (and unstopped)."""

    def __init__(self) -> None:
        self.requested = False
        self._immediate = False

    def install(self) -> None:
        # An ignored SIGINT (nohup, a background job) stays ignored, as it does for other tools.
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self._immediate:
            self._immediate = False  # a second Ctrl-C must not interrupt the clean-up
            raise KeyboardInterrupt

    def checkpoint(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def run(self, serve_forever: Callable[[], None]) -> None:
        """serve_forever(), until a signal interrupts it."""
        self.checkpoint()
        self._immediate = True
        try:
            serve_forever()
        finally:
            self._immediate = False


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.local", description=DESCRIPTION)
    parser.add_argument("--port", type=int, default=default_port(), help="default: $PORT or 3000")
    parser.add_argument(
        "--optibase-url",
        help="send conversions to this URL (a stand-in of your own) instead of the built-in one",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="print all the handler's Powertools logs and metrics"
    )
    return parser.parse_args(argv)


@dataclass(frozen=True)
class LocalSettings:
    port: int
    secret: str
    secret_source: str
    optibase: OptibaseTarget
    verbose: bool


def settings(args: argparse.Namespace, template: dict[str, Any]) -> LocalSettings:
    secret, secret_source = signing_secret()
    target = optibase_target(template, args.optibase_url)
    return LocalSettings(args.port, secret, secret_source, target, args.verbose)


def configure_handler(
    template: dict[str, Any], local: LocalSettings, moto: MotoServer, optibase_url: str
) -> str:
    """Set the environment the handler reads at import, as Lambda does before a cold start: the
    function's variables from template.yaml, pointed at the stand-ins. Says what is logged."""
    service_endpoints = [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_")]
    for name in [*_AWS_OVERRIDES, *service_endpoints]:
        os.environ.pop(name, None)
    values = {
        "StripeWebhookSecretParameterName": _parameter_name(template),
        "OptibasePublicApiKey": local.optibase.public_api_key,
        "OptibaseConversionId": local.optibase.conversion_id,
        "IdempotencyTable": TABLE_NAME,
    }
    os.environ.update(function_environment(template, values))
    os.environ["OPTIBASE_ENDPOINT"] = optibase_url
    os.environ.update(moto.client_environment())
    if local.verbose:
        return f"handler logs at {os.environ.get('POWERTOOLS_LOG_LEVEL', 'INFO')}, and metrics"
    # One console line per request instead; errors still print in full.
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    return "handler errors only (--verbose: its logs and metrics, as deployed)"


def _parameter_name(template: dict[str, Any]) -> str:
    return template["Parameters"]["StripeWebhookSecretParameterName"]["Default"]


def serve(
    server: WebhookServer, local: LocalSettings, template: dict[str, Any], stop: Stopper
) -> None:
    """Start the stand-ins, load the handler against them, then answer requests until stopped."""
    parameter_name = _parameter_name(template)
    function = template["Resources"]["WebhookFunction"]["Properties"]
    url = f"http://127.0.0.1:{local.port}{WEBHOOK_PATH}"
    with ExitStack() as stack:
        stack.callback(server.server_close)
        endpoint = local.optibase.endpoint
        if endpoint is None:
            endpoint = stack.enter_context(OptibaseStandIn(on_request=_print_conversion)).url
        moto = stack.enter_context(MotoServer())
        stop.checkpoint()
        provision(moto.endpoint, parameter_name, local.secret, TABLE_NAME)
        stop.checkpoint()
        logs = configure_handler(template, local, moto, endpoint)
        handler = importlib.import_module("handler")
        server.function = LocalFunction(handler, float(function["Timeout"]))
        stop.checkpoint()

        optibase = local.optibase.description
        if local.optibase.endpoint is None:
            optibase = (
                f"built-in stand-in at {endpoint}: prints each conversion, nothing leaves this"
                " machine (set OPTIBASE_PUBLIC_API_KEY and OPTIBASE_CONVERSION_ID for the real one)"
            )
        listen = f"stripe listen --forward-to localhost:{local.port}{WEBHOOK_PATH}"
        _say("Stripe -> Optibase webhook, running locally: handler.lambda_handler, as deployed")
        _say(f"  webhook   POST {url}")
        _say(f"  secret    {local.secret_source}")
        _say(f"  Optibase  {optibase}")
        _say(f"  AWS       moto at {moto.endpoint}: SSM {parameter_name}, DynamoDB {TABLE_NAME}")
        _say(f"  console   one line per request; {logs}")
        port = "" if local.port == DEFAULT_PORT else f"PORT={local.port} "
        from_cli = "STRIPE_WEBHOOK_SECRET=$(stripe listen --print-secret)"
        _say(f"Try it: `{port}make demo` in another terminal. Or Stripe test events, via its CLI:")
        if local.secret == LOCAL_WEBHOOK_SECRET:
            _say(f"  restart as: {from_cli} {port}make local")
            _say(f"  then, in another terminal: {listen}")
        else:
            _say(f"  in another terminal: {listen}")
            _say("  (STRIPE_WEBHOOK_SECRET must be the whsec_... it prints)")
        _say("Ctrl-C stops everything.")
        _say(f"Ready: listening on {url}")
        stop.run(server.serve_forever)


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    stop = Stopper()
    stop.install()
    template = load_template()
    try:
        local = settings(args, template)
    except ConfigurationError as error:
        _say(str(error))
        return 2
    try:
        # Bound first: a busy port fails at once, before anything is started.
        server = WebhookServer(local.port)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        _say(f"Port {local.port} is in use (is `make local` already running?): use --port or PORT.")
        return 1
    try:
        serve(server, local, template, stop)
    except KeyboardInterrupt:
        pass
    except Exception:
        # Ctrl-C in a terminal reaches moto too: it may quit while start-up still waits for it.
        if not stop.requested:
            raise
    _say("Stopped everything it started.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
