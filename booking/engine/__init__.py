"""The booking engine: every check a new booking passes, and the guarded insert.

Bookings, series and the waitlist all book through it; it knows nothing of them, so the use cases
that free a slot (and promote the waitlist) can sit above the waitlist that books through it.
"""
