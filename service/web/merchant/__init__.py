"""The merchant portal at /merchant: brand, locations, offers with a live preview,
performance, statements, team and API keys, for one merchant's staff."""
