"""Maintenance plans, their progress, due and overdue checks, and the log of what was done."""
