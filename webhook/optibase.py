"""Optibase's server-side conversion call, retried within the time the invocation has left."""

import os
import random
import time

import requests
import urllib3

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
    """POST `body` to Optibase; retry 408, 429, 5xx and network failures until `deadline`.

    A timeout or dropped connection after the request went out is ambiguous: Optibase may have
    counted it. It has no idempotency key, so it is retried all the same: a rare double count
    is better than a purchase that is never counted.
    """
    failure = "no attempt fitted before the deadline"
    for attempt in range(ATTEMPTS):
        left = deadline - time.monotonic()
        if left <= 0.1:
            break
        try:
            response = _session.post(
                ENDPOINT,
                json=body,
                # `total` caps connecting and reading together; the read limit applies to each
                # wait for bytes, so only a server trickling its answer could stretch it.
                timeout=urllib3.Timeout(
                    connect=min(CONNECT_TIMEOUT, left), read=min(READ_TIMEOUT, left), total=left
                ),
                # requests would replay a redirected POST as a GET: a redirect is a wrong endpoint.
                allow_redirects=False,
            )
        except requests.RequestException as error:
            failure = type(error).__name__
        else:
            status = response.status_code
            if 200 <= status < 300:
                return
            if status not in (408, 429) and status < 500:
                raise OptibaseRejected(f"HTTP {status}: {_without(body, response.text[:200])!r}")
            failure = f"HTTP {status}"
        pause = BACKOFF_SECONDS * 2**attempt * random.uniform(0.5, 1.0)  # noqa: S311 (jitter)
        if attempt + 1 == ATTEMPTS or time.monotonic() + pause >= deadline:
            break
        time.sleep(pause)
    raise OptibaseUnavailable(failure)


def _without(body: dict[str, str], text: str) -> str:
    # Optibase's error message goes to the logs; an echo of the visitor's id must not.
    for field in ("testedUserId", "testedUserExternalId"):
        if body.get(field):
            text = text.replace(body[field], "…")
    return text
