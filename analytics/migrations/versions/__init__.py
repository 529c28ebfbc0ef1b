"""Revisions of the history schema, oldest first."""
