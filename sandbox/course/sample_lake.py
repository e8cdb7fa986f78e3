"""The committed sample (``data_samples/``) as bronze and silver DataFrames."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from sandbox.platform import PROJECT_ROOT

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SAMPLES = PROJECT_ROOT / "data_samples"


def sample_bronze(spark: SparkSession) -> dict[str, DataFrame]:
    """Bronze-shaped frames of the sample: the app tables (as a full load leaves them)
    and the events, unwrapped and deduplicated by the platform's own functions."""
    import pyarrow.parquet as pq

    from sandbox.jobs import SOURCE_KEYS, dedupe_events, unwrap_events

    frames = {
        t: spark.createDataFrame(pq.read_table(SAMPLES / "app" / f"{t}.parquet"))
        for t in SOURCE_KEYS
    }
    lines = [
        (line,)
        for f in sorted((SAMPLES / "events").glob("*.jsonl"))
        for line in f.read_text().splitlines()
        if line
    ]
    frames["events"] = dedupe_events(unwrap_events(spark.createDataFrame(lines, "value string")))
    return frames


def sample_silver(spark: SparkSession) -> dict[str, DataFrame]:
    """Every silver table built by the platform's own jobs from the sample, lazily."""
    from sandbox.jobs.silver import SILVER_TABLES, build_silver

    frames, _ = build_silver(sample_bronze(spark))
    return {t.name: frames[t.name] for t in SILVER_TABLES}


# -- generated samples: the cases the committed sample does not have ------------------

# (player_id, signup_date) and (match_id, match_date, players): a year boundary, players
# who never play, activity before the signup (an earlier month, and earlier the same
# month), a month with no activity between two with, several matches in one month, a
# cohort nobody from plays, and one player a whole year later.
_EDGE_PLAYERS = [
    (9001, date(2025, 11, 15)),
    (9002, date(2025, 11, 30)),
    (9003, date(2025, 12, 31)),
    (9004, date(2025, 12, 10)),
    (9005, date(2026, 1, 5)),
    (9006, date(2026, 2, 1)),
    (9007, date(2026, 2, 28)),
    (9008, date(2026, 1, 31)),
]
_EDGE_MATCHES = [
    (8001, date(2025, 11, 20), (9001,)),
    (8002, date(2025, 11, 21), (9001, 9004)),
    (8003, date(2026, 1, 1), (9001, 9003, 9005)),
    (8004, date(2025, 12, 1), (9004,)),
    (8005, date(2026, 1, 6), (9005,)),
    (8006, date(2026, 1, 31), (9005, 9008)),
    (8007, date(2026, 3, 15), (9003,)),
    (8008, date(2027, 1, 1), (9008,)),
]


def edge_case_silver(spark: SparkSession, sample: dict[str, DataFrame]) -> dict[str, DataFrame]:
    """dim_player, fct_match_player and fct_match holding only the edge cases above,
    with every silver column (copied from a row of ``sample``)."""
    return _silver_like(spark, sample, _EDGE_PLAYERS, _EDGE_MATCHES)


def random_silver(
    spark: SparkSession, sample: dict[str, DataFrame], seed: int, players: int = 120
) -> dict[str, DataFrame]:
    """A seeded random lake: signups over 18 months from October 2024, matches from then
    to mid-2026 with 2-6 players each, some of whom had not signed up yet."""
    rng = random.Random(seed)
    start = date(2024, 10, 1)
    signups = [(7000 + i, start + timedelta(days=rng.randrange(540))) for i in range(players)]
    ids = [p for p, _ in signups]
    matches = [
        (
            60000 + m,
            start + timedelta(days=rng.randrange(640)),
            tuple(rng.sample(ids, rng.randint(2, 6))),
        )
        for m in range(players * 3)
    ]
    return _silver_like(spark, sample, signups, matches)


def _silver_like(spark, sample, players, matches) -> dict[str, DataFrame]:
    template = {
        t: sample[t].limit(1).collect()[0].asDict()
        for t in ("dim_player", "fct_match_player", "fct_match")
    }
    noon = time(12, 0)
    rows: dict[str, list[dict]] = {"dim_player": [], "fct_match_player": [], "fct_match": []}
    for player_id, signup in players:
        created = datetime.combine(signup, noon)
        rows["dim_player"].append(
            {
                **template["dim_player"],
                "player_id": player_id,
                "signup_date": signup,
                "created_at": created,
                "updated_at": created,
            }
        )
    for match_id, day, who in matches:
        began = datetime.combine(day, noon)
        rows["fct_match"].append(
            {
                **template["fct_match"],
                "match_id": match_id,
                "match_date": day,
                "started_at": began,
                "ended_at": began + timedelta(minutes=20),
                "host_player_id": who[0],
            }
        )
        for team, player_id in enumerate(who):
            rows["fct_match_player"].append(
                {
                    **template["fct_match_player"],
                    "match_id": match_id,
                    "player_id": player_id,
                    "team": team % 2,
                }
            )
    return {
        t: spark.createDataFrame(
            [tuple(r[c] for c in sample[t].columns) for r in rows[t]], sample[t].schema
        )
        for t in rows
    }
