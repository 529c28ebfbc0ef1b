"""The stream in this process: subscriber → ingest → buffer → sessions and recorder."""
