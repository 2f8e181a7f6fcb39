"""Stripe Checkout → Optibase conversion webhook: one concern per module, wired in handler.py."""
