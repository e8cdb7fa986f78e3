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
    rules = [
        q.not_null("nickname", threshold=1),
        q.accepted_values("tier", ["gold", "silver"]),
        q.relationship("ref", "r.ref_id"),
        q.unique("id"),
    ]
    result = q.apply_rules("t", df, rules, refs)
    assert sorted(r.id for r in result.passed.collect()) == [1, 5]
    bad = {r.id: r._failed_rules for r in result.quarantined.collect()}
    assert bad == {
        2: ["not_null(nickname)"],
        3: ["accepted_values(tier)"],
        4: ["relationship(ref -> r.ref_id)"],
    }
    checks = q.check(result)
    assert (checks.checked, checks.passed, checks.quarantined) == (5, 2, 3)
    assert {c.rule: (c.checked, c.quarantined, c.threshold) for c in checks.rules} == {
        "not_null(nickname)": (5, 1, 1.0),  # its own threshold: never blocks
        "accepted_values(tier)": (5, 1, q.DEFAULT_THRESHOLD),
        "relationship(ref -> r.ref_id)": (5, 1, q.DEFAULT_THRESHOLD),
        "unique(id)": (5, 0, q.DEFAULT_THRESHOLD),
    }
    # 1 of 5 rows (20%) is above the default 5%: the run stops, naming the rule.
    with pytest.raises(q.DataQualityError, match=r"accepted_values\(tier\): 1 of 5 rows"):
        q.enforce("silver x.t", checks)


def test_duplicates_fail_unique_and_a_blocking_rule_says_so(spark) -> None:
    df = spark.createDataFrame([(1,), (1,), (2,)], "id long")
    result = q.apply_rules("t", df, [q.unique("id", blocking=True)])
    assert sorted(r.id for r in result.quarantined.collect()) == [1, 1]
    with pytest.raises(q.DataQualityError, match=r"silver x\.t: .*unique\(id\): 2 of 3 rows"):
        q.enforce("silver x.t", q.check(result))


def test_a_rule_blocks_only_above_its_threshold(spark) -> None:
    # 1 null in 10 rows is 10%: under a 20% threshold it quarantines and goes on,
    # at 10% it is not *above* the threshold either, at 5% it stops the run.
    df = spark.createDataFrame([(i if i else None,) for i in range(10)], "v long")
    for threshold, stops in ((0.2, False), (0.1, False), (0.05, True)):
        checks = q.check(q.apply_rules("t", df, [q.not_null("v", threshold=threshold)]))
        assert checks.rules[0].breached is stops, threshold


def test_accepted_values_follow_reference_data(spark) -> None:
    # "weekly" is a plan the code never heard of: it is in the plans table, so accepted.
    plans = spark.createDataFrame([("monthly",), ("weekly",)], "plan_id string")
    df = spark.createDataFrame(
        [(1, "weekly"), (2, "monthly"), (3, "lifetime"), (4, None)], "id long, plan_id string"
    )
    rule = q.accepted_values("plan_id", ref="plans.plan_id", threshold=1)
    result = q.apply_rules("t", df, [rule], {"plans": plans})
    assert sorted(r.id for r in result.passed.collect()) == [1, 2, 4]


def test_relationship_checks_the_full_parent_and_cascades_only_when_declared(spark) -> None:
    parent_all = spark.createDataFrame([(1,), (2,)], "id long")
    parent_passed = parent_all.where("id = 1")  # parent 2 was quarantined for another rule
    child = spark.createDataFrame([(10, 1), (20, 2), (30, 3)], "cid long, pid long")
    refs = {"p": parent_all, "p:passed": parent_passed}
    plain = q.apply_rules("c", child, [q.relationship("pid", "p.id", threshold=1)], refs)
    assert sorted(r.cid for r in plain.passed.collect()) == [10, 20]  # 3 has no parent at all
    cascading = q.relationship("pid", "p.id", cascade=True, threshold=1)
    assert cascading.ref_frame == "p:passed"
    strict = q.apply_rules("c", child, [cascading], refs)
    assert sorted(r.cid for r in strict.passed.collect()) == [10]


def test_bad_threshold_and_ambiguous_values_are_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        q.not_null("x", threshold=5)
    with pytest.raises(ValueError, match="either values or ref"):
        q.accepted_values("x", ["a"], ref="plans.plan_id")


def test_silver_stops_on_a_blocking_rule(spark, sample_bronze) -> None:
    players = sample_bronze["players"]
    broken = dict(sample_bronze, players=players.unionByName(players.limit(1)))  # a dup key
    with pytest.raises(
        q.DataQualityError, match=r"silver core\.dim_player: .*unique\(player_id\): 2 of 501 rows"
    ):
        build_silver(broken)


def test_a_new_plan_in_the_source_is_not_quarantined(spark, sample_bronze) -> None:
    from pyspark.sql import functions as F

    plans = sample_bronze["plans"]
    weekly = plans.limit(1).withColumn("plan_id", F.lit("weekly"))
    subs = sample_bronze["subscriptions"]
    moved = subs.withColumn(
        "plan_id", F.when(F.col("status") == "active", "weekly").otherwise(F.col("plan_id"))
    )
    bronze = dict(sample_bronze, plans=plans.unionByName(weekly), subscriptions=moved)
    frames, report = build_silver(bronze)
    assert all(n == 0 for rules in report.rules.values() for n in rules.values()), report.rules
    assert frames["dim_player"].where("current_plan_id = 'weekly'").count() > 0


def test_unique_over_two_columns_counts_null_keys_as_equal(spark) -> None:
    df = spark.createDataFrame(
        [
            (1, 1, "a"),  # unique
            (1, 2, "b"),  # same first column only: unique
            (2, None, "c"),  # a null key twice: duplicates, as a window over it says
            (2, None, "d"),
            (3, 3, "e"),  # the same key three times
            (3, 3, "f"),
            (3, 3, "g"),
        ],
        "m long, p long, v string",
    )
    result = q.apply_rules("t", df, [q.unique("m", "p")])
    assert sorted(r.v for r in result.passed.collect()) == ["a", "b"]
    assert sorted(r.v for r in result.quarantined.collect()) == ["c", "d", "e", "f", "g"]
    assert result.passed.columns == ["m", "p", "v"]  # no helper column leaks out
    assert result.quarantined.columns == ["m", "p", "v", *q.QUARANTINE_COLUMNS]
    assert result.split.columns == ["m", "p", "v", *q.QUARANTINE_COLUMNS, q.SPLIT]


def test_the_checks_of_several_tables_in_one_query_match_one_at_a_time(spark) -> None:
    a = spark.createDataFrame([(1, None), (2, "x"), (2, "y")], "id long, s string")
    b = spark.createDataFrame([(None,), (5,)], "k long")
    results = [
        q.apply_rules("a", a, [q.unique("id"), q.not_null("s")]),
        q.apply_rules("b", b, [q.not_null("k", threshold=1)]),
    ]
    together = q.check_all([(r, r.passed, r.quarantined) for r in results])
    assert together == [q.check(r) for r in results]
    assert [(c.passed, c.quarantined) for c in together] == [(0, 3), (1, 1)]
    assert {c.rule: c.quarantined for c in together[0].rules} == {"unique(id)": 2, "not_null(s)": 1}
