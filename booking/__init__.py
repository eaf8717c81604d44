"""Sites, resources, members, plans, quotas and bookings: the booking domain of FabLab Hub."""
