"""The seed generator: deterministic, sized as documented, matching the committed sample."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow.parquet as pq

from sandbox.app import generator
from sandbox.platform.settings import PROJECT_ROOT

SAMPLES = PROJECT_ROOT / "data_samples" / "app"


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a, b, c = generator.generate(0.05, 1), generator.generate(0.05, 1), generator.generate(0.05, 2)
    assert all(a[t].equals(b[t]) for t in a)
    assert not a["players"].equals(c["players"])


def test_scale_one_sizes() -> None:
    tables = generator.generate(1, 42)
    assert tables["players"].num_rows == 10_000
    assert tables["matches"].num_rows == 10_000
    assert tables["match_players"].num_rows == 100_000
    assert tables["subscriptions"].num_rows == 3_000


def test_rows_are_consistent() -> None:
    t = generator.generate(0.05, 7)
    players = set(t["players"].column("player_id").to_pylist())
    # every foreign key points at an existing row
    assert set(t["match_players"].column("player_id").to_pylist()) <= players
    assert set(t["payments"].column("player_id").to_pylist()) <= players
    # ten distinct players per match, five per team
    mp = t["match_players"].to_pylist()
    by_match: dict[int, list] = {}
    for r in mp:
        by_match.setdefault(r["match_id"], []).append(r)
    for rows in by_match.values():
        assert len({r["player_id"] for r in rows}) == 10
        assert sorted(r["team"] for r in rows) == [1] * 5 + [2] * 5
    # money is decimal with two places, instants are UTC
    assert str(t["payments"].schema.field("amount_brl").type) == "decimal128(12, 2)"
    assert t["players"].schema.field("created_at").type.tz == "UTC"
    # nicknames include non-ASCII and emails include NULLs
    assert any(not n.isascii() for n in t["players"].column("nickname").to_pylist())
    assert t["players"].column("email").null_count > 0


def test_committed_sample_matches_the_generator() -> None:
    fresh = generator.generate(0.05, 42, as_of=generator.SAMPLE_AS_OF)
    for name, table in fresh.items():
        assert pq.read_table(SAMPLES / f"{name}.parquet").equals(table), name


def test_history_ends_where_traffic_begins() -> None:
    # Nothing generated lies after the as-of day (traffic starts there), and the last
    # days before it are not empty: no hole between history and simulated traffic.
    as_of = date(2026, 11, 23)
    t = generator.generate(0.05, 42, as_of=as_of)
    end = datetime(2026, 11, 23, tzinfo=UTC)
    payments = t["payments"].column("created_at").to_pylist()
    matches = t["matches"].column("started_at").to_pylist()
    assert max(payments + matches) < end
    assert max(matches) > end - timedelta(days=2)
    assert max(payments) > end - timedelta(days=7)


def test_as_of_only_shifts_the_history() -> None:
    a = generator.generate(0.05, 42, as_of=date(2026, 1, 1))
    b = generator.generate(0.05, 42, as_of=date(2026, 1, 11))
    assert {n: t.num_rows for n, t in a.items()} == {n: t.num_rows for n, t in b.items()}
    shift = (
        b["players"].column("created_at")[0].as_py() - a["players"].column("created_at")[0].as_py()
    )
    assert shift == timedelta(days=10)


def test_payments_are_one_per_period_until_cancelled_or_the_end() -> None:
    # The generator computes payments without a loop; this is the loop it replaced.
    t = generator.generate(0.3, 5, as_of=generator.SAMPLE_AS_OF)
    end = generator.history_end(generator.SAMPLE_AS_OF)
    months = {plan_id: m for plan_id, _, _, m in generator.PLANS}
    price = {plan_id: p for plan_id, _, p, _ in generator.PLANS}
    expected = []
    for sub in t["subscriptions"].to_pylist():
        until = sub["cancelled_at"] or end
        at = sub["started_at"]
        while at < until:
            expected.append((sub["player_id"], sub["subscription_id"], price[sub["plan_id"]], at))
            at += timedelta(days=30 * months[sub["plan_id"]])
    got = [
        (r["player_id"], r["subscription_id"], str(r["amount_brl"]), r["created_at"])
        for r in t["payments"].to_pylist()
    ]
    assert got == expected
    assert t["payments"].column("payment_id").to_pylist() == list(range(1, len(got) + 1))


def test_rosters_are_distinct_and_every_player_is_drawn_alike() -> None:
    rng = np.random.default_rng(0)
    tight = generator._rosters(rng, 500, 12)  # 10 of 12: most draws repeat someone
    assert all(len(set(r)) == 10 for r in tight.tolist())
    assert tight.min() == 1 and tight.max() == 12
    wide = generator._rosters(rng, 20_000, 1_000)
    counts = np.bincount(wide.ravel(), minlength=1_001)[1:]
    assert abs(counts.mean() - 200) < 1e-9
    assert counts.min() > 130 and counts.max() < 270  # about 200 +- 5 sigma


def test_tiers_follow_the_floors() -> None:
    mmr = np.arange(0, 3300)
    assert generator.tiers_for(mmr).to_pylist() == [generator.tier_for(int(m)) for m in mmr]
