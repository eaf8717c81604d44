"""What machines report: events stored once, usage sessions, activity, and their enforcement."""
