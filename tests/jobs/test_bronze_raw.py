"""Raw DMS files brought to one shape, on small inline tables (no services)."""

from __future__ import annotations

import pyarrow as pa

from sandbox.ingest.dms.mappings import TableMapping, renamed
from sandbox.jobs.bronze_raw import dms_order, latest_rows, normalize
from sandbox.platform.settings import DmsSettings

AWS = DmsSettings(
    include_op_for_full_load=False, timestamp_column_name=None, change_seq_column_name=None
)
MAPPING = TableMapping("public", "t", ["id"], "d", [("id", "int64"), ("v", "string")])


def test_commit_order_of_raw_names() -> None:
    keys = [
        "dms/public/t/20260101-120000123-1.parquet",  # the second batch of that millisecond
        "dms/cdc/public/t/2026/01/01/20260101-115959999.parquet",
        "dms/public/t/LOAD0000000A.parquet",
        "dms/public/t/20260101-120000123.parquet",
        "dms/public/t/LOAD00000002.parquet",
    ]
    assert sorted(keys, key=dms_order) == [
        "dms/public/t/LOAD00000002.parquet",
        "dms/public/t/LOAD0000000A.parquet",  # hex counter: 10 after 2
        "dms/cdc/public/t/2026/01/01/20260101-115959999.parquet",
        "dms/public/t/20260101-120000123.parquet",
        "dms/public/t/20260101-120000123-1.parquet",
    ]


def test_full_load_rows_without_op_are_inserts_and_order_is_file_then_row() -> None:
    load = pa.table({"id": [1, 2], "v": ["a", "b"]})  # IncludeOpForFullLoad=false
    cdc = pa.table({"Op": ["U", "D"], "id": [1, 2], "v": ["a2", None]})
    out = normalize([load, cdc], cfg=AWS, mapping=MAPPING).to_pylist()
    assert [r["Op"] for r in out] == ["I", "I", "U", "D"]
    assert [(r["_dms_file"], r["_dms_row"]) for r in out] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert {r["_dms_seq"] for r in out} == {""}  # no change-sequence column


def test_change_sequence_ties_fall_back_to_file_and_row() -> None:
    cfg = DmsSettings()
    # a LOAD row and a CDC row with the same sequence value: the CDC file comes later
    load = pa.table({"Op": ["I"], "dms_change_seq": ["0001"], "id": [1], "v": ["old"]})
    cdc = pa.table({"Op": ["U"], "dms_change_seq": ["0001"], "id": [1], "v": ["new"]})
    out = normalize([load, cdc], cfg=cfg, mapping=MAPPING).to_pylist()
    ranked = sorted(out, key=lambda r: (r["_dms_seq"], r["_dms_file"], r["_dms_row"]))
    assert ranked[-1]["v"] == "new"


def test_shape_follows_the_mapping_renames_widening_and_drops() -> None:
    mapping = TableMapping(
        "public",
        "t",
        ["id"],
        "d",
        [("id", "int64"), ("label", "string"), ("added", "string")],
        renames=[("name", "label")],
    )
    before = pa.table({"id": pa.array([1], pa.int32()), "name": ["x"], "gone": [7]})
    # a batch across the rename holds both names: rows before it have the old one
    across = pa.table(
        {
            "Op": ["U", "U"],
            "id": pa.array([1, 2], pa.int64()),
            "name": ["y", None],
            "label": [None, "z"],
        }
    )
    out = normalize([before, across], cfg=AWS, mapping=mapping)
    assert out.schema.field("id").type == pa.int64()  # int -> bigint
    assert "gone" not in out.column_names and "name" not in out.column_names
    assert out.column("label").to_pylist() == ["x", "y", "z"]
    assert out.column("added").to_pylist() == [None, None, None]


def test_rename_is_told_from_drop_and_add_by_shape() -> None:
    before = [("id", "int64"), ("tags", "string"), ("n", "int32")]
    # same place, same type, a new name: a rename
    assert renamed(before, [("id", "int64"), ("labels", "string"), ("n", "int32")]) == [
        ("tags", "labels")
    ]
    # a column dropped: no rename
    assert renamed(before, [("id", "int64"), ("n", "int32")]) == []
    # a new name of another type at that place: a drop and an add
    assert renamed(before, [("id", "int64"), ("tags2", "int64"), ("n", "int32")]) == []
    # a generated column is placed by the task (pgoutput leaves it out), so it may
    # move: it does not hide a rename
    with_gen = [("id", "int64"), ("tags", "string"), ("g", "int32"), ("n", "int32")]
    moved = [("id", "int64"), ("labels", "string"), ("n", "int32"), ("g", "int32")]
    assert renamed(with_gen, moved, generated=frozenset({"g"})) == [("tags", "labels")]


SEQ_AWS = DmsSettings(
    include_op_for_full_load=False, timestamp_column_name=None, change_seq_column_name="seq"
)
PAIR = TableMapping(
    "public", "t", ["a", "b"], "d", [("a", "int64"), ("b", "string"), ("v", "string")]
)


def test_latest_rows_keeps_the_last_change_per_key_in_commit_order() -> None:
    load = pa.table(
        {"a": [1, 1, 2, None], "b": ["x", "y", "x", "x"], "v": ["l1", "l2", "l3", "l4"]}
    )
    cdc1 = pa.table(
        {"Op": ["U", "U", "D"], "a": [1, None, 2], "b": ["x", "x", "x"], "v": ["u1", "u4", None]}
    )
    cdc2 = pa.table({"Op": ["U", "I"], "a": [1, 3], "b": ["x", "z"], "v": ["u1b", "n5"]})
    out = latest_rows(normalize([load, cdc1, cdc2], cfg=AWS, mapping=PAIR), ["a", "b"])
    # (1, y) untouched since the load; (1, x) updated twice: the later file wins; the
    # null key is a key like any other (MERGE compares keys with <=>); (2, x) deleted
    # last; rows come out in commit order
    assert [(r["Op"], r["a"], r["b"], r["v"]) for r in out.to_pylist()] == [
        ("I", 1, "y", "l2"),
        ("U", None, "x", "u4"),
        ("D", 2, "x", None),
        ("U", 1, "x", "u1b"),
        ("I", 3, "z", "n5"),
    ]


def test_latest_rows_lets_the_change_sequence_decide_before_position() -> None:
    late_file = pa.table(
        {"Op": ["U", "U"], "a": [1, 1], "b": ["x", "x"], "v": ["old", "tie"], "seq": ["05", "07"]}
    )
    early_file = pa.table({"Op": ["U"], "a": [1], "b": ["x"], "v": ["new"], "seq": ["07"]})
    out = latest_rows(normalize([early_file, late_file], cfg=SEQ_AWS, mapping=PAIR), ["a", "b"])
    # "07" twice: file then row order break the tie, so the later file's row wins
    assert out.column("v").to_pylist() == ["tie"]


def test_latest_rows_returns_a_full_load_as_it_is() -> None:
    load = normalize(
        [pa.table({"a": [1, 2], "b": ["x", "x"], "v": ["p", "q"]})], cfg=AWS, mapping=PAIR
    )
    assert latest_rows(load, ["a", "b"]) is load
