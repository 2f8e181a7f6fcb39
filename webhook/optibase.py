"""Optibase's server-side conversion call, retried within the time the invocation has left."""

import os
import random
import time

import requests

DEFAULT_ENDPOINT = "https://app.optibase.io/api/script/conversionEvent"
ENDPOINT = os.environ.get("OPTIBASE_ENDPOINT") or DEFAULT_ENDPOINT
PUBLIC_API_KEY = os.environ.get("OPTIBASE_PUBLIC_API_KEY", "")
CONVERSION_ID = os.environ.get("OPTIBASE_CONVERSION_ID", "")

ATTEMPTS = 3
CONNECT_TIMEOUT = 3.05  # just over a TCP retransmit window, as requests' docs advise
READ_TIMEOUT = 5.0
BACKOFF_SECONDS = 0.5

# One pooled connection for the life of the Lambda instance: warm events skip TCP and TLS setup.
_session = requests.Session()
# requests would re-read proxy variables and ~/.netrc on every call (a third of its CPU time
# here); a Lambda's environment is fixed, so read the proxies once.
_session.proxies = requests.utils.get_environ_proxies(ENDPOINT)
_session.trust_env = False


class OptibaseRejected(Exception):
    """Optibase refused the conversion (4xx): a configuration problem a retry will not fix."""


class OptibaseUnavailable(Exception):
    """Optibase did not accept the conversion after every attempt the deadline allowed."""


def conversion_event(tested_user_field: str, tested_user: str) -> dict[str, str]:
    """The body Optibase documents, exactly: nothing else is sent."""
    return {
        "publicApiKey": PUBLIC_API_KEY,
        "userFriendlyConversionId": CONVERSION_ID,
        tested_user_field: tested_user,
    }


def send_conversion_event(body: dict[str, str], deadline: float) -> None:
    """POST `body` to Optibase; retry 429, 5xx and network failures until `deadline` (monotonic)."""
    failure = "no attempt fitted before the deadline"
    for attempt in range(ATTEMPTS):
        left = deadline - time.monotonic()
        if left <= 0.1:
            break
        try:
            response = _session.post(
                ENDPOINT,
                json=body,
                timeout=(min(CONNECT_TIMEOUT, left), min(READ_TIMEOUT, left)),
                # requests would replay a redirected POST as a GET: a redirect is a wrong endpoint.
                allow_redirects=False,
            )
        except requests.RequestException as error:
            failure = type(error).__name__
        else:
            if 200 <= response.status_code < 300:
                return
            if response.status_code != 429 and response.status_code < 500:
                raise OptibaseRejected(f"HTTP {response.status_code}: {response.text[:200]!r}")
            failure = f"HTTP {response.status_code}"
        pause = BACKOFF_SECONDS * 2**attempt * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not crypto)
        if attempt + 1 == ATTEMPTS or time.monotonic() + pause >= deadline:
            break
        time.sleep(pause)
    raise OptibaseUnavailable(failure)
