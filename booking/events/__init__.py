"""Events: workshops, classes, trainings and events with sessions, seats, waitlists and attendance."""
