"""Providers behind the settlement ports: Stripe billing, payouts and webhooks."""
