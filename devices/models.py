"""The machines' tables (filled in by the machines issue)."""
