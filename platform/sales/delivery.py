"""What a line delivered: codes from our stock, or codes a supplier or staff handed over
(kept encrypted like stock codes)."""
from __future__ import annotations

import json

from kameng.core.crypto import keyring
from kameng.sales.models import OrderLine
from kameng.shop.stock import allocation


def line_aad(line_id: int) -> bytes:
    """Associated data binding a line's delivered codes to the line (key rotation uses it)."""
    return f"order-line:{line_id}".encode()


def _aad(line: OrderLine) -> bytes:
    return line_aad(line.id)


def store_delivered(line: OrderLine, codes: list[str]) -> None:
    if not codes:
        return
    key_id, blob = keyring().encrypt(json.dumps(codes), _aad(line))
    line.delivery_key_id, line.delivery_ciphertext = key_id, blob


def line_codes(line: OrderLine) -> list[str]:
    codes = list(allocation.codes_for_line(line.id)) if line.kind == "card" else []
    if line.delivery_ciphertext:
        codes.extend(json.loads(keyring().decrypt(line.delivery_key_id, line.delivery_ciphertext,
                                                  _aad(line))))
    return codes
