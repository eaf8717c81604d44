"""How the outbox's workers (e-mail and webhooks) lease a delivery and wait between tries."""

from __future__ import annotations

from datetime import timedelta

# A claimed delivery is leased this long: a worker killed mid-send leaves it to be sent again after.
LEASE = timedelta(minutes=5)
# Given up after this many tries (about a day at the longest wait).
MAX_ATTEMPTS = 30
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)


def retry_after(attempts: int) -> timedelta:
    """The wait before the next try: 30 s after the first failure, doubling, at most an hour."""
    wait: timedelta = FIRST_RETRY * (2 ** min(max(0, attempts - 1), 20))
    return min(wait, LONGEST_WAIT)
