"""Funded accounts (预存款): each shop below the master answers for the money it handles.

See docs/money.md. ``services`` moves money into a shop's ``funded`` account;
``kameng.sales.funding`` takes the parent's price out of it for orders the shop
collected on its own gateway.
"""
