"""Commissions: the price chain rolled up to every shop, promoters, the hold."""
