"""TickStock Live: the live side (settings, channels, events, subscriber, buffer, views, CLI)."""

__version__ = "0.1.0"
