"""The wire contract: channels, what TickStockPL sends, and how it is decoded."""
