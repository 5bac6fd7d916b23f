"""The member app at /app: sign up, link cards, activate offers, see and cash out cashback."""
