"""The command line: tickstock serve, demo, simulate, tail, record, replay, db."""
