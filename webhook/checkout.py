"""Which Stripe Checkout events are Optibase conversions, and for which visitor."""

from dataclasses import dataclass
from typing import Any

# A session paid by card completes as `paid`; one paid by bank debit completes `unpaid` and is
# paid later (`async_payment_succeeded`). Converting on both would count one purchase twice.
PAID_STATUSES = frozenset({"paid", "no_payment_required"})
COMPLETED = "checkout.session.completed"
ASYNC_PAYMENT_SUCCEEDED = "checkout.session.async_payment_succeeded"

# Where a server that creates its own Checkout Sessions puts an Optibase external id.
EXTERNAL_ID_METADATA_KEY = "optibase_external_id"


@dataclass(frozen=True)
class Conversion:
    checkout_session_id: str
    tested_user_field: str  # "testedUserId" or "testedUserExternalId", Optibase's field names
    tested_user: str


@dataclass(frozen=True)
class Skip:
    reason: str
    checkout_session_id: str | None = None
    missing_visitor: bool = False


class NotACheckoutSession(Exception):
    """A Checkout event whose data.object is not a Checkout Session."""


def conversion_for(event: dict[str, Any]) -> Conversion | Skip:
    """The conversion a verified Stripe event stands for, or why it stands for none."""
    event_type = event["type"]
    if event_type not in (COMPLETED, ASYNC_PAYMENT_SUCCEEDED):
        return Skip(f"{event_type} is not a purchase")
    session = event["data"]["object"]
    session_id = session.get("id")
    # The session id is the exactly-once key: without one there is nothing safe to send.
    if session.get("object") != "checkout.session" or not (
        isinstance(session_id, str) and session_id.startswith("cs_")
    ):
        raise NotACheckoutSession(f"{event_type} without a Checkout Session")
    if event_type == COMPLETED and session.get("payment_status") not in PAID_STATUSES:
        return Skip("payment not settled yet: async_payment_succeeded will follow", session_id)

    tested_user_id = session.get("client_reference_id")
    if isinstance(tested_user_id, str) and tested_user_id:
        return Conversion(session_id, "testedUserId", tested_user_id)
    metadata = session.get("metadata")
    external_id = metadata.get(EXTERNAL_ID_METADATA_KEY) if isinstance(metadata, dict) else None
    if isinstance(external_id, str) and external_id:
        return Conversion(session_id, "testedUserExternalId", external_id)
    return Skip(
        f"no client_reference_id or metadata.{EXTERNAL_ID_METADATA_KEY}",
        session_id,
        missing_visitor=True,
    )
