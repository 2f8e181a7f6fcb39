"""The Lambda context object the runtime passes to the handler, for running it outside Lambda."""

import time
import uuid
from dataclasses import dataclass, field

FUNCTION_NAME = "optibase-stripe-webhook-local"


@dataclass
class LocalLambdaContext:
    """Has what Powertools reads: names, request id, and the time left before `timeout_seconds`."""

    timeout_seconds: float = 15.0
    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = f"/aws/lambda/{FUNCTION_NAME}"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._started + self.timeout_seconds - time.monotonic()) * 1000))
