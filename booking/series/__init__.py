"""Recurring bookings: a series booked from an RRULE in the site's time zone, cancelled as a whole."""
