"""Gold marts on the committed sample equal the checked-in expected outputs.

After an intended change to a job, regenerate them with
``SANDBOX_UPDATE_EXPECTED=1 uv run pytest tests/jobs/test_gold_expected.py``
and review the diff of ``data_samples/expected_gold/`` like code.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from sandbox.course.sample_lake import SAMPLES
from sandbox.jobs.as_of import instant, parse_as_of, silver_as_of
from sandbox.jobs.gold import GOLD_TABLES, build_gold
from sandbox.jobs.local_run import jsonable
from sandbox.jobs.silver import build_silver
from sandbox.platform import SandboxError

EXPECTED = SAMPLES / "expected_gold"


def rows_of(df) -> list[dict]:
    rows = [{k: jsonable(v) for k, v in r.asDict().items()} for r in df.collect()]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


@pytest.fixture(scope="module")
def silver(sample_bronze) -> dict:
    return build_silver(sample_bronze)[0]


@pytest.fixture(scope="module")
def gold(silver) -> dict:
    return build_gold(silver)


@pytest.mark.parametrize("mart", [t.name for t in GOLD_TABLES])
def test_gold_mart_matches_expected(gold, mart: str) -> None:
    rows = rows_of(gold[mart])
    path = EXPECTED / f"{mart}.json"
    if os.environ.get("SANDBOX_UPDATE_EXPECTED") == "1":
        EXPECTED.mkdir(exist_ok=True)
        path.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    assert rows, f"{mart} is empty on the sample"
    assert rows == json.loads(path.read_text())


def test_every_mart_documents_grain_and_every_column(gold) -> None:
    for table in GOLD_TABLES:
        assert table.grain
        assert list(table.columns) == gold[table.name].columns, table.name
        assert set(table.key) <= set(table.columns)


# -- gold as of a time (`sandbox run gold --as-of`, a scheduled Airflow run's interval end)


def test_gold_as_of_after_every_fact_is_gold(silver, gold) -> None:
    late = build_gold(silver_as_of(silver, datetime(2030, 1, 1, tzinfo=UTC)))
    for mart in ("matches_per_map_daily", "revenue_by_plan_monthly", "mrr_by_plan_monthly"):
        assert rows_of(late[mart]) == rows_of(gold[mart]), mart


def test_gold_as_of_a_past_day_holds_the_facts_before_it_and_only_those(silver, gold) -> None:
    cut = datetime(2025, 12, 10, tzinfo=UTC)
    past = build_gold(silver_as_of(silver, cut))
    day = cut.date()
    for mart, column in (
        ("matches_per_map_daily", "match_date"),
        ("login_funnel_daily", "event_date"),
        ("daily_active_players", "activity_date"),
    ):
        rows = rows_of(past[mart])
        assert rows and all(r[column] < str(day) for r in rows), mart
        # the days that had ended a day before the cut are what today's gold says of them
        settled = str(day - timedelta(days=1))
        assert [r for r in rows if r[column] < settled] == [
            r for r in rows_of(gold[mart]) if r[column] < settled
        ], mart
    matches = silver["fct_match"].where(silver["fct_match"].started_at < instant(cut)).count()
    assert sum(r["matches"] for r in rows_of(past["matches_per_map_daily"])) == matches
    assert rows_of(past["matches_per_map_daily"]) != rows_of(gold["matches_per_map_daily"])


def test_a_subscription_cancelled_after_the_cut_was_active_at_it(silver) -> None:
    subs = silver["fct_subscription"]
    cancelled = subs.where(subs.cancelled_at.isNotNull()).orderBy("cancelled_at").first()
    assert cancelled is not None
    cut = cancelled["cancelled_at"] - timedelta(seconds=1)
    if cut.tzinfo is None:
        cut = cut.replace(tzinfo=UTC)
    seen = silver_as_of(silver, cut)["fct_subscription"]
    row = seen.where(seen.subscription_id == cancelled["subscription_id"]).first()
    assert row is not None and row["status"] == "active" and row["cancelled_at"] is None


def test_an_as_of_that_is_no_time_is_named() -> None:
    assert parse_as_of("") is None and parse_as_of("None") is None
    assert parse_as_of("2026-01-02 00:00:00+00:00") == datetime(2026, 1, 2, tzinfo=UTC)
    assert parse_as_of("2026-01-02T03:00:00") == datetime(2026, 1, 2, 3, tzinfo=UTC)
    with pytest.raises(SandboxError, match="--as-of 'yesterday'"):
        parse_as_of("yesterday")


def test_gold_is_built_without_a_window_over_one_partition(silver) -> None:
    """Nothing the user did not ask for is printed (#34): no mart's plan holds a window
    without a partition, which PySpark warns about on every demo's gold step."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = build_gold(silver)
        for frame in built.values():
            frame.collect()
    said = [str(w.message) for w in caught if "No Partition Defined" in str(w.message)]
    assert not said, said
