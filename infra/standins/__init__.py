"""Local stand-ins for third-party services (Stripe, Plaid) used by tests and the demo."""
