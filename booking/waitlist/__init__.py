"""The waitlist: members queue for a taken slot and are booked, first come first served, when it frees."""
