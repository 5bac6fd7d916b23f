"""Settlements: runs, statements, approval, CSV export; payout accounts and donations."""
