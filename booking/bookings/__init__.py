"""Bookings and what members, managers and kiosks do with them: book, read, cancel or release, check
in, approve, walk in; availability, free rooms, the grid, the kiosk's now and next, the iCal feed."""
