"""Settlement runs: periods, statements, approval, merchant billing, member payouts, reports."""
