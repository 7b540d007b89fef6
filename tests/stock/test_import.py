"""Importing codes: dedupe, refusal of malformed files, encryption at rest, void, export."""
from __future__ import annotations

import glob
import io

import pytest
from sqlalchemy import func, select, text

from kameng.core.audit import AuditEvent
from kameng.core.crypto import new_key
from kameng.core.errors import Conflict, InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.shop.stock import services
from kameng.shop.stock.models import CardCode, StockBatch
from tests.stock.conftest import assert_counter, codes

pytestmark = pytest.mark.both


def _count(model, **where) -> int:
    stmt = select(func.count()).select_from(model)
    for k, v in where.items():
        stmt = stmt.where(getattr(model, k) == v)
    return db.session.scalar(stmt)


def test_import_text_counts_and_batch(app, card):
    result = services.import_codes(card, text=codes(25), actor="cli", cost_note="¥8 each")
    assert (result.imported, result.duplicates) == (25, 0)
    assert result.summary() == "imported 25, duplicates 0"
    batch = db.session.get(StockBatch, result.batch_id)
    assert (batch.status, batch.imported, batch.cost_note, batch.actor) == \
        ("done", 25, "¥8 each", "cli")
    assert assert_counter(card) == 25


def test_blank_lines_and_surrounding_spaces_are_ignored(app, card):
    result = services.import_codes(card, text="\n  A-1  \n\n\tB-2\t\r\n   \nA-1\n")
    assert (result.imported, result.duplicates) == (2, 1)
    assert result.duplicate_lines == [6]


def test_duplicates_within_the_file_and_against_stock_are_skipped(app, card):
    services.import_codes(card, text="X-1\nX-2\n")
    result = services.import_codes(card, text="X-2\nX-3\nX-3\nX-4\nX-1\nX-3\n")
    assert (result.imported, result.duplicates) == (2, 4)
    assert result.duplicates_in_stock == 2 and result.duplicates_in_file == 2
    assert result.duplicate_lines == [1, 3, 5, 6]
    assert assert_counter(card) == 4
    assert _count(CardCode, product_id=card.id) == 4


def test_same_code_may_exist_in_two_products(app, card):
    from kameng.shop.catalog.services import create_product

    other = create_product(sku="CARD-2", name="另一个", kind="card", supplier_cost=1,
                           wholesale_price=1, retail_price=1)
    services.import_codes(card, text="SAME\n")
    assert services.import_codes(other, text="SAME\n").imported == 1


def test_pairs_with_a_separator(app, card):
    result = services.import_codes(card, text="c1----p1\n c2 ---- p2 \nc1----p1\n",
                                   separator="----")
    assert (result.imported, result.duplicates) == (2, 1)
    line = services.reserve_codes(card.id, 2, order_line_id=7, until=_later())
    services.mark_sold(7)
    assert sorted(services.codes_for_line(7)) == ["c1----p1", "c2----p2"]
    assert line


@pytest.mark.parametrize("body, separator, bad", [
    ("ok,1\na,b,c\nok,2\nonly\n", ",", [2, 4]),           # wrong number of parts
    ("ok-1\n" + "x" * 513 + "\nok-2\n", None, [2]),         # over-long line
    ("ok-1\nbad\x00code\nok\x07\n", None, [2, 3]),         # control characters
    ("a,\n,b\nfine,pw\n", ",", [1, 2]),                     # empty code or password
    ("ok\ncode\twith-tab\n", None, [2]),                    # a tab inside a plain code
])
def test_malformed_file_is_refused_with_line_numbers_and_nothing_written(
        app, card, body, separator, bad):
    with pytest.raises(services.MalformedFile) as err:
        services.import_codes(card, text=body, separator=separator)
    assert err.value.bad_lines == bad
    for n in bad:
        assert str(n) in err.value.message
    for content in ("a,b,c", "xxxxxxxx", "bad\x00", "with-tab", "only", "fine"):
        assert content not in err.value.message
    assert _count(CardCode) == 0 and _count(StockBatch) == 0
    assert assert_counter(card) == 0


def test_non_utf8_file_is_refused(app, card, tmp_path):
    path = tmp_path / "codes.txt"
    path.write_bytes(b"ok-1\n\xff\xfe bad\nok-2\n")
    with pytest.raises(services.MalformedFile) as err:
        services.import_codes(card, path=path)
    assert err.value.bad_lines == [2] and "UTF-8" in err.value.message


def test_a_giant_line_is_refused_without_being_read_whole(app, card, tmp_path):
    """A 32 MB line (a file with no newline) is refused by its length, read in bounded
    chunks: the import never holds the line in memory."""
    import tracemalloc

    path = tmp_path / "giant.txt"
    chunk = b"x" * (1024 * 1024)
    with open(path, "wb") as fh:
        fh.write(b"ok-1\n")
        for _ in range(32):
            fh.write(chunk)
        fh.write(b"\nok-2\n" + "é".encode() * 600 + b"\n")
    tracemalloc.start()
    try:
        with pytest.raises(services.MalformedFile) as err:
            services.import_codes(card, path=path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.bad_lines == [2, 4] and "longer than 512" in err.value.message
    assert peak < 4 * 1024 * 1024, peak
    assert _count(CardCode) == 0 and _count(StockBatch) == 0


def test_file_with_bom_and_crlf(app, card, tmp_path):
    path = tmp_path / "codes.csv"
    path.write_bytes(b"\xef\xbb\xbfAAA,111\r\nBBB,222\r\n")
    result = services.import_codes(card, path=path, separator=",")
    assert result.imported == 2
    services.reserve_codes(card.id, 2, order_line_id=1, until=_later())
    services.mark_sold(1)
    assert sorted(services.codes_for_line(1)) == ["AAA,111", "BBB,222"]


def test_empty_file_and_wrong_product_kind(app, card):
    from kameng.shop.catalog.services import create_product

    with pytest.raises(InvalidInput):
        services.import_codes(card, text="\n  \n")
    topup = create_product(sku="TOP-1", name="话费", kind="topup", supplier_cost=1,
                           wholesale_price=1, retail_price=1)
    with pytest.raises(InvalidInput):
        services.import_codes(topup, text="x\n")


def test_chunked_import_of_many_lines(app, card):
    seen = []
    result = services.import_codes(card, text=codes(12000) + codes(100),
                                   progress=lambda done, total: seen.append((done, total)))
    assert (result.imported, result.duplicates) == (12000, 100)
    assert seen[-1] == (12100, 12100)
    assert assert_counter(card) == 12000


SECRETS = ["PLAIN-SECRET-AAAA-0001", "PLAIN-SECRET-BBBB-0002", "ZZ9-PLURAL-Z-ALPHA"]


def test_codes_are_encrypted_at_rest(app, card, backend, tmp_path):
    services.import_codes(card, text="\n".join(SECRETS) + "\n", actor="cli")
    services.import_codes(card, text=SECRETS[0] + "\n")          # a duplicate, too
    services.reserve_codes(card.id, 1, order_line_id=3, until=_later())
    services.mark_sold(3)
    db.session.commit()
    needles = [s.encode() for s in SECRETS] + [s.encode().hex().encode() for s in SECRETS]
    if backend == "sqlite":
        db.session.close()
        db.engine.dispose()  # the last connection out checkpoints the WAL into the file
        path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
        blob = b"".join(open(p, "rb").read() for p in glob.glob(path + "*"))
        assert len(blob) > 0
    else:
        rows = []
        for table in db.metadata.sorted_tables:
            rows += db.session.execute(text(f'SELECT t::text FROM "{table.name}" t')).scalars()
        blob = "\n".join(rows).encode()
        assert "\\x" in blob.decode()  # bytea really rendered
    for needle in needles:
        assert needle not in blob and needle.lower() not in blob.lower()


def test_key_rotation_old_codes_decrypt_and_still_dedupe(app, card):
    services.import_codes(card, text="OLD-1\nOLD-2\n")
    app.config["CODE_KEYS"] = f"k9:{new_key()}," + app.config["CODE_KEYS"]
    result = services.import_codes(card, text="OLD-1\nNEW-1\n")
    assert (result.imported, result.duplicates) == (1, 1)
    kids = set(db.session.scalars(select(CardCode.key_id)))
    assert "k9" in kids and len(kids) == 2
    services.reserve_codes(card.id, 3, order_line_id=1, until=_later())
    services.mark_sold(1)
    assert sorted(services.codes_for_line(1)) == ["NEW-1", "OLD-1", "OLD-2"]
    assert services.rekey_codes() == 2
    assert set(db.session.scalars(select(CardCode.key_id))) == {"k9"}
    assert sorted(services.codes_for_line(1)) == ["NEW-1", "OLD-1", "OLD-2"]


def test_void_code_and_batch_keep_the_counter(app, card):
    first = services.import_codes(card, text=codes(5, "A"))
    second = services.import_codes(card, text=codes(4, "B"))
    ids = list(db.session.scalars(select(CardCode.id).where(
        CardCode.batch_id == first.batch_id).order_by(CardCode.id)))
    services.void_code(ids[0], actor="cli")
    assert assert_counter(card) == 8
    with pytest.raises(Conflict):
        services.void_code(ids[0])
    with pytest.raises(NotFound):
        services.void_code(999999)
    services.reserve_codes(card.id, 1, order_line_id=5, until=_later())  # takes ids[1]
    assert services.void_batch(first.batch_id, actor="cli") == 3
    assert assert_counter(card) == 4
    assert db.session.get(StockBatch, first.batch_id).voided == 4
    assert services.void_batch(second.batch_id) == 4
    assert assert_counter(card) == 0
    actions = list(db.session.scalars(select(AuditEvent.action)))
    assert actions.count("stock.void_code") == 1 and actions.count("stock.void_batch") == 2


def test_export_unsold_is_owner_only_and_audited(app, tree, card):
    services.import_codes(card, text="E-1\nE-2\nE-3\n")
    services.reserve_codes(card.id, 1, order_line_id=1, until=_later())
    taken = services.codes_for_line(1, include_reserved=True)
    out = io.StringIO()
    assert services.export_codes(card, out, actor=tree.master_owner) == 2
    assert sorted(out.getvalue().splitlines()) == sorted({"E-1", "E-2", "E-3"} - set(taken))
    from kameng.tenants.services import create_user

    staff = create_user(tree.master, "staff@master.test", "staff", "correct-horse")
    with pytest.raises(services.Forbidden):
        services.export_codes(card, io.StringIO(), actor=staff)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "stock.export")).all()
    assert len(events) == 1 and events[0].detail["count"] == 2
    assert events[0].actor.startswith(f"user:{tree.master_owner.id}")


def test_days_left_from_the_last_14_days_of_sales(app, card):
    from datetime import timedelta

    from kameng.core.models import utcnow

    services.import_codes(card, text=codes(40))
    services.reserve_codes(card.id, 14, order_line_id=1, until=_later())
    services.mark_sold(1)
    services.reserve_codes(card.id, 5, order_line_id=2, until=_later())
    services.mark_sold(2)
    # the second sale was a month ago: outside the window
    db.session.execute(CardCode.__table__.update().where(CardCode.order_line_id == 2)
                       .values(sold_at=utcnow() - timedelta(days=30)))
    db.session.commit()
    card.low_stock_threshold = 25
    db.session.commit()
    row = services.stock_report()[0]
    assert (row["available"], row["sold_14d"], row["days_left"], row["low"]) == (21, 14, 21, True)
    assert services.stock_report(only_low=True)[0]["sku"] == "CARD-1"
    assert services.days_left(10, 0) is None


def _later():
    from datetime import timedelta

    from kameng.core.models import utcnow

    return utcnow() + timedelta(minutes=15)
