"""The one boto3 session and client configuration behind every AWS call the function makes."""

import boto3
from botocore.config import Config

# One session for all clients: each new session loads botocore's service data again, which
# costs a cold start tens of milliseconds per client.
SESSION = boto3.session.Session()

# botocore would wait 60 s per attempt; every AWS call must end well inside the function's
# Timeout so that Stripe always gets an answer.
CONNECT_TIMEOUT = 1
READ_TIMEOUT = 2
ATTEMPTS = 2
CLIENT_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT,
    read_timeout=READ_TIMEOUT,
    retries={"mode": "standard", "max_attempts": ATTEMPTS},
)
# The longest one AWS call can take: every attempt timing out, plus standard mode's backoff
# (at most 1 s before the second attempt).
LONGEST_CALL_SECONDS = ATTEMPTS * (CONNECT_TIMEOUT + READ_TIMEOUT) + 1
