"""Quality rules: planted bad rows land in quarantine, exactly, with the rule they broke."""

from __future__ import annotations

import pytest

from sandbox.jobs import quality as q
from sandbox.jobs.silver import build_silver


def test_planted_rows_are_quarantined_with_their_rules(spark) -> None:
    df = spark.createDataFrame(
        [
            (1, "ana", "gold", 10),  # clean
            (2, None, "gold", 10),  # planted: null nickname
            (3, "bia", "wood", 10),  # planted: tier not in the list
            (4, "caio", "gold", 99),  # planted: points at a ref that does not exist
            (5, "dani", "silver", None),  # null ref is not a broken relationship
        ],
        "id long, nickname string, tier string, ref long",
    )
    refs = {"r": spark.createDataFrame([(10,)], "ref_id long")}
    rules = [q.not_null("nickname"), q.accepted_values("tier", ["gold", "silver"]),
             q.relationship("ref", "r.ref_id"), q.unique("id")]  # fmt: skip
    result = q.apply_rules("t", df, rules, refs)
    assert sorted(r.id for r in result.passed.collect()) == [1, 5]
    bad = {r.id: r._failed_rules for r in result.quarantined.collect()}
    assert bad == {2: ["not_null(nickname)"], 3: ["accepted_values(tier)"],
                   4: ["relationship(ref -> r.ref_id)"]}  # fmt: skip
    assert result.counts == {"not_null(nickname)": 1, "accepted_values(tier)": 1,
                             "relationship(ref -> r.ref_id)": 1, "unique(id)": 0}  # fmt: skip
    assert result.blocking_failures == []


def test_duplicates_fail_unique_and_a_blocking_rule_says_so(spark) -> None:
    df = spark.createDataFrame([(1,), (1,), (2,)], "id long")
    result = q.apply_rules("t", df, [q.unique("id", blocking=True)])
    assert sorted(r.id for r in result.quarantined.collect()) == [1, 1]
    assert result.blocking_failures == ["unique(id): 2 rows"]


def test_silver_stops_on_a_blocking_rule(spark, sample_bronze) -> None:
    players = sample_bronze["players"]
    broken = dict(sample_bronze, players=players.unionByName(players.limit(1)))  # a dup key
    with pytest.raises(q.DataQualityError, match=r"dim_player: blocking rule failed: unique"):
        build_silver(broken)
