"""The machines of the center: registry, live state, usage sessions, access, maintenance, alerts."""
