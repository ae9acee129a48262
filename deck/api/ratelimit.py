"""Per-organization fixed-window rate limit, counted in the shared cache."""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache

from deck.errors import RateLimited


def rate_limit_check(organization_id: str) -> None:
    """Count one request; raise ``RateLimited`` past the limit. Not transactional."""
    limit = settings.DECK_RATE_LIMIT_REQUESTS
    window = settings.DECK_RATE_LIMIT_WINDOW_SECONDS
    now = time.time()
    key = f"ratelimit:{organization_id}:{int(now // window)}"
    # add() then incr() keeps the counter atomic on Redis and within one process on locmem.
    if cache.add(key, 1, timeout=window * 2):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=window * 2)
            count = 1
    if count > limit:
        retry_after = max(1, math.ceil(window - (now % window)))
        raise RateLimited(
            f"Too many requests: at most {limit} every {window} seconds per organization. "
            f"Retry in {retry_after} s.",
            retry_after=retry_after,
        )
