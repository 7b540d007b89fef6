"""The double-entry ledger (see ``services`` for the posting contract).

Other code calls:

- ``services.post(key, kind, [(account, amount), …], reference=, memo=, created_by=,
  guard=)`` → ``Transaction`` (idempotent by ``key``; commits); ``post_in_txn`` is
  the same in the caller's transaction
- ``services.reverse(tx, key)`` → the opposite transaction (once per tx);
  ``reverse_in_txn`` in the caller's transaction
- ``services.wallet_account(user)``, ``user_account(user, kind)``,
  ``shop_account(tenant, kind)``, ``platform_account(kind, currency)`` — get or create
- ``services.InsufficientBalance`` (402 ``insufficient_balance``),
  ``services.IdempotencyConflict`` (409)
- ``services.check_ledger()`` → ``CheckResult(transactions, accounts, problems)``
- ``kameng.billing.wallets``: ``credit_wallet``, ``spend_from_wallet``,
  ``topup_wallet``, ``refund_to_wallet``, ``wallet_balance``, ``wallet_history``
"""
