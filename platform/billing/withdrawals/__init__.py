"""Withdrawals of available earnings to a saved payout method."""
