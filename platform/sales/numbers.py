"""Order numbers that can be neither guessed nor enumerated."""
from __future__ import annotations

import secrets

from kameng.core.models import utcnow

# no 0/O, 1/I/L: read aloud and typed by buyers
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_order_no() -> str:
    """'K261126' + 14 random characters (~69 bits): the date helps support staff."""
    return "K" + utcnow().strftime("%y%m%d") + "".join(
        secrets.choice(ALPHABET) for _ in range(14))
