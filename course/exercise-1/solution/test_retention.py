"""retention_by_cohort on a few inline rows: each case says why the expected rows are right."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from retention import retention_by_cohort

PLAYERS = "player_id bigint, signup_date date"
MATCH_PLAYERS = "match_id bigint, player_id bigint"
MATCHES = "match_id bigint, match_date date"


def run(spark, players, match_players, matches):
    out = retention_by_cohort(
        spark.createDataFrame(players, PLAYERS),
        spark.createDataFrame(match_players, MATCH_PLAYERS),
        spark.createDataFrame(matches, MATCHES),
    )
    return [tuple(r) for r in out.collect()]


JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)

CASES = {
    # Two January signups; both play in January (month 0), only one in March (month 2):
    # February has no active player, so no row.
    "cohort of two, one returns": (
        [(1, date(2026, 1, 5)), (2, date(2026, 1, 20))],
        [(10, 1), (10, 2), (11, 1)],
        [(10, date(2026, 1, 25)), (11, date(2026, 3, 2))],
        [(JAN, 0, 2, 2, Decimal("1.0000")), (JAN, 2, 2, 1, Decimal("0.5000"))],
    ),
    # Three matches in one month count once: retention counts players, not matches.
    "a player active twice in a month counts once": (
        [(1, date(2026, 2, 1))],
        [(10, 1), (11, 1), (12, 1)],
        [(10, date(2026, 2, 3)), (11, date(2026, 2, 4)), (12, date(2026, 2, 28))],
        [(FEB, 0, 1, 1, Decimal("1.0000"))],
    ),
    # A player who never played still belongs to the cohort's size: 1 of 3 is active.
    "players who never played lower the rate": (
        [(1, date(2026, 3, 1)), (2, date(2026, 3, 9)), (3, date(2026, 3, 31))],
        [(10, 3)],
        [(10, date(2026, 3, 31))],
        [(MAR, 0, 3, 1, Decimal("0.3333"))],
    ),
    # Months are calendar months: December to January is one month across the year.
    "months count across a year boundary": (
        [(1, date(2025, 12, 31))],
        [(10, 1)],
        [(10, date(2026, 1, 1))],
        [(date(2025, 12, 1), 1, 1, 1, Decimal("1.0000"))],
    ),
    # A match dated before the signup (clock skew in the source) is not retention.
    "activity before signup is ignored": (
        [(1, date(2026, 2, 10))],
        [(10, 1)],
        [(10, date(2026, 1, 30))],
        [],
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_retention_by_cohort(spark, case: str) -> None:
    players, match_players, matches, expected = CASES[case]
    assert run(spark, players, match_players, matches) == expected
