"""The one boto3 session and client configuration behind every AWS call the function makes."""

import boto3
from botocore.config import Config

# One session for all clients: each new session loads botocore's service data again, which
# costs a cold start tens of milliseconds per client.
SESSION = boto3.session.Session()

# botocore would wait 60 s per attempt; every AWS call must end well inside the function's
# Timeout so that Stripe always gets an answer. Parameter validation is off because every
# request is built by Powertools, not from input; AWS still validates it.
CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"mode": "standard", "max_attempts": 2},
    parameter_validation=False,
)
