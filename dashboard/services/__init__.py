"""Embedded Redis and PostgreSQL, each with a watchdog, for machines with neither."""
