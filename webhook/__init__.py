"""Stripe Checkout → Optibase conversion webhook: one concern per module, wired together in handler.py."""
