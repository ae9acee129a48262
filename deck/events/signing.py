"""Standard Webhooks signing (https://www.standardwebhooks.com), through the reference
``standardwebhooks`` package rather than a hand-written HMAC."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
# The specification asks for 24 to 64 random bytes.
_SECRET_BYTES = 32


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def signature_headers(
    *, message_id: str, timestamp: datetime, body: str, signing_secrets: Iterable[str]
) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``: one ``v1,<base64>``
    entry per secret, space-separated (two during a rotation's overlap)."""
    signatures = [
        Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)
        for secret in signing_secrets
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
