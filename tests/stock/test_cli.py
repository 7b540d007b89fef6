"""``kameng stock …``: the summary line contract, refusals, void and export."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from kameng.core.extensions import db
from kameng.shop.stock.models import CardCode, StockBatch
from tests.stock.conftest import assert_counter

pytestmark = pytest.mark.both


def test_import_prints_one_summary_line(app, cli, card, tmp_path):
    path = tmp_path / "codes.txt"
    path.write_text("A-1\nA-2\n\n  A-3 \nA-2\n")
    result = cli("stock", "import", "--product", "CARD-1", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == "imported 3, duplicates 1\n"
    assert "A-2" not in result.stderr and "duplicate lines: 5" in result.stderr
    again = cli("stock", "import", "--product", "CARD-1", str(path))
    assert again.stdout == "imported 0, duplicates 4\n"
    assert assert_counter(card) == 3


def test_import_pairs_with_separator(app, cli, card, tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("c1\tp1\nc2\tp2\n")
    result = cli("stock", "import", "--product", "CARD-1", "--separator", "tab", str(path))
    assert result.stdout == "imported 2, duplicates 0\n"


def test_malformed_file_exits_non_zero_with_line_numbers(app, cli, card, tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("good,pw\nSECRET-NO-PW\ngood2,pw\nx,y,z\n")
    result = cli("stock", "import", "--product", "CARD-1", "--separator", ",", str(path))
    assert result.exit_code != 0
    assert "Error:" in result.stderr and " 2 (" in result.stderr and " 4 (" in result.stderr
    assert "SECRET-NO-PW" not in result.stderr + result.stdout
    assert "imported" not in result.stdout
    assert db.session.scalar(select(func.count()).select_from(CardCode)) == 0
    assert db.session.scalar(select(func.count()).select_from(StockBatch)) == 0


@pytest.mark.parametrize("args, message", [
    (("--product", "NOPE"), "no product with SKU"),
    (("--product", "TOP-1"), "only card products"),
])
def test_import_refuses_unknown_or_non_card_product(app, cli, card, tmp_path, args, message):
    from kameng.shop.catalog.services import create_product

    create_product(sku="TOP-1", name="话费", kind="topup", supplier_cost=1, wholesale_price=1,
                   retail_price=1)
    path = tmp_path / "codes.txt"
    path.write_text("A\n")
    result = cli("stock", "import", *args, str(path))
    assert result.exit_code != 0 and message in result.stderr


def test_void_and_export(app, cli, card, tmp_path):
    path = tmp_path / "codes.txt"
    path.write_text("V-1\nV-2\nV-3\n")
    cli("stock", "import", "--product", "CARD-1", str(path))
    first = db.session.scalar(select(func.min(CardCode.id)))
    batch = db.session.scalar(select(StockBatch.id))
    assert cli("stock", "void", "--code-id", first).stdout == f"voided code {first}\n"
    assert cli("stock", "void", "--code-id", first).exit_code != 0
    out = tmp_path / "unsold.txt"
    result = cli("stock", "export", "--product", "CARD-1", "--out", str(out))
    exported = out.read_text().splitlines()
    assert result.exit_code == 0 and len(exported) == 2 and set(exported) < {"V-1", "V-2", "V-3"}
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    assert cli("stock", "export", "--product", "CARD-1", "--out", str(out)).exit_code != 0
    assert cli("stock", "void", "--batch", batch).stdout == f"voided 2 code(s) of batch {batch}\n"
    assert assert_counter(card) == 0
    assert cli("stock", "void").exit_code != 0


def test_report(app, cli, card):
    from kameng.shop.stock.services import import_codes

    import_codes(card, text="Q-1\n")
    result = cli("stock", "report", "--low", "--json")
    assert result.exit_code == 0 and '"sku": "CARD-1"' in result.stdout
