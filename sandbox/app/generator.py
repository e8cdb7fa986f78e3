"""Deterministic initial data for the ``app`` database at any scale.

``generate(scale, seed, as_of=...)`` returns one Arrow table per source table; the
same arguments always give the same rows. The history covers the ``HISTORY_DAYS``
before ``as_of`` (default: today, UTC) and ends where the simulator's traffic, which
runs on the wall clock, begins: the report's time charts tell one continuous story.
Scale 1 is 10,000 players and 10,000 matches of 10 players each
(100,000 ``match_players`` rows); sizes grow linearly with scale.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HISTORY_DAYS = 180
# The fixed end of history of the committed sample (data_samples/) and of the tests.
SAMPLE_AS_OF = date(2026, 1, 1)

PLAYERS_PER_SCALE = 10_000
MATCHES_PER_SCALE = 10_000
PLAYERS_PER_MATCH = 10
SUBSCRIBER_SHARE = 0.3

PLANS = [  # plan_id, name, price in BRL, months
    ("monthly", "Pro Mensal", "19.90", 1),
    ("quarterly", "Pro Trimestral", "54.90", 3),
    ("annual", "Pro Anual", "199.90", 12),
]
MAPS = ["Dust Valley", "Frostbite", "Neon District", "Sunken Temple", "Skyport"]
MODES = ["ranked_5v5", "casual_5v5"]
REGIONS = ["sa-east", "us-east", "eu-west"]
COUNTRIES = ["BR", "BR", "BR", "BR", "AR", "CL", "PT", "US", "MX", "CO"]
PAYMENT_METHODS = ["pix", "credit_card", "boleto"]
# Data tables stay one row per line below: formatted, they run down a screen.
# Skill tiers by MMR lower bound.
TIERS = [(0, "bronze"), (1000, "silver"), (1400, "gold"), (1800, "platinum"),
         (2200, "diamond"), (2600, "master")]  # fmt: skip
NICK_STEMS = ["Ninja", "Sniper", "Ghost", "Raposa", "Onça", "Tatu", "Zoë", "Ñandú", "Kaiô",
              "李雷", "Пуля", "Jägerin", "Café", "Açaí", "🎮Gamer", "Saci", "Curupira"]  # fmt: skip

TABLE_ORDER = ["plans", "players", "subscriptions", "payments", "lobbies", "matches",
               "match_players"]  # fmt: skip

TS = pa.timestamp("us", tz="UTC")
COPY_CHUNK_ROWS = 50_000


# The line of schema.sql after which come its secondary indexes.
INDEXES_MARK = "-- [indexes]"


def schema_sql(*, indexes: bool = True) -> str:
    """The DDL of the source application (``sandbox/app/schema.sql``).

    ``indexes=False`` leaves out the secondary indexes, which a bulk load builds after
    its rows (one sort each, instead of one insertion per row).
    """
    text = resources.files("sandbox.app").joinpath("schema.sql").read_text()
    return text if indexes else text.split(INDEXES_MARK, 1)[0]


def tier_for(mmr: int) -> str:
    name = TIERS[0][1]
    for floor, tier in TIERS:
        if mmr >= floor:
            name = tier
    return name


def tiers_for(mmr: np.ndarray) -> pa.Array:
    """``tier_for`` of every value (MMR is never below the first floor)."""
    floors = np.array([floor for floor, _ in TIERS])
    return _pick([tier for _, tier in TIERS], np.searchsorted(floors, mmr, side="right") - 1)


def sizes(scale: float) -> dict[str, int]:
    """Approximate row counts per table at ``scale`` (exact for players and matches)."""
    players = max(20, int(PLAYERS_PER_SCALE * scale))
    matches = max(2, int(MATCHES_PER_SCALE * scale))
    return {"players": players, "matches": matches, "match_players": matches * PLAYERS_PER_MATCH}


def _times(rng: np.random.Generator, n: int, start: datetime, span_s: float) -> np.ndarray:
    base = np.datetime64(start.replace(tzinfo=None), "us")
    offsets = (rng.random(n) * span_s * 1e6).astype("int64")
    return base + offsets.astype("timedelta64[us]")


def _ts(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """UTC timestamps; ``mask`` marks the NULLs."""
    return pa.array(values.astype("datetime64[us]"), pa.timestamp("us"), mask=mask).cast(TS)


def _pick(choices: list[str], index: np.ndarray) -> pa.Array:
    """``[choices[i] for i in index]`` as an Arrow string array, without a Python loop."""
    return pa.array(choices, pa.string()).take(pa.array(index, pa.int64()))


def _concat(*parts: str | pa.Array) -> pa.Array:
    """Element-wise string concatenation of arrays and constants."""
    return pc.binary_join_element_wise(*parts, "")


def _rosters(rng: np.random.Generator, matches: int, players: int) -> np.ndarray:
    """``PLAYERS_PER_MATCH`` distinct player ids (1-based) per match, uniformly.

    Every roster is drawn with replacement and drawn again while it repeats a player:
    uniform over rosters without repetition, like ``rng.choice(replace=False)`` per
    match, in a few vectorised rounds instead of one call per match.
    """
    roster = rng.integers(0, players, (matches, PLAYERS_PER_MATCH))
    while True:
        ordered = np.sort(roster, axis=1)
        repeats = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if not repeats.any():
            return roster + 1
        roster[repeats] = rng.integers(0, players, (int(repeats.sum()), PLAYERS_PER_MATCH))


def history_end(as_of: date | None = None) -> datetime:
    """The instant history ends: midnight UTC starting ``as_of`` (default: today)."""
    return datetime.combine(as_of or datetime.now(UTC).date(), time(), tzinfo=UTC)


def generate(
    scale: float = 1.0, seed: int = 42, *, as_of: date | None = None
) -> dict[str, pa.Table]:
    """Every source table as Arrow, deterministic in ``(scale, seed, as_of)``."""
    rng = np.random.default_rng(seed)
    n = sizes(scale)
    until = history_end(as_of)
    start = until - timedelta(days=HISTORY_DAYS)
    span = HISTORY_DAYS * 86400.0

    plans = pa.table(
        {
            "plan_id": [p[0] for p in PLANS],
            "name": [p[1] for p in PLANS],
            "price_brl": pa.array([p[2] for p in PLANS]).cast(pa.decimal128(10, 2)),
            "period_months": pa.array([p[3] for p in PLANS], pa.int16()),
            "created_at": pa.array([start] * len(PLANS), TS),
        }
    )

    # players
    np_ = n["players"]
    player_ids = np.arange(1, np_ + 1, dtype="int64")
    mmr = np.clip(rng.normal(1500, 400, np_), 0, 3200).astype("int32")
    stems = rng.integers(0, len(NICK_STEMS), np_)
    ids_text = pa.array(player_ids).cast(pa.string())
    nick = _concat(_pick(NICK_STEMS, stems), ids_text)
    has_email = rng.random(np_) > 0.1
    email = pc.if_else(
        has_email, _concat("player", ids_text, "@example.com"), pa.scalar(None, pa.string())
    )
    created = _times(rng, np_, start, span * 0.5)
    players = pa.table(
        {
            "player_id": player_ids,
            "nickname": nick,
            "email": email,
            "country": _pick(COUNTRIES, rng.integers(0, len(COUNTRIES), np_)),
            "skill_tier": tiers_for(mmr),
            "mmr": mmr,
            "is_banned": rng.random(np_) < 0.01,
            "created_at": _ts(created),
            "updated_at": _ts(created),
        }
    )

    # subscriptions and their payments
    subscribers = np.sort(rng.choice(player_ids, int(np_ * SUBSCRIBER_SHARE), replace=False))
    ns = len(subscribers)
    plan_idx = rng.choice(len(PLANS), ns, p=[0.6, 0.25, 0.15])
    sub_start = created[subscribers - 1] + (rng.random(ns) * 30 * 86400e6).astype("timedelta64[us]")
    cancelled = rng.random(ns) < 0.25
    cancel_at = sub_start + (rng.random(ns) * 60 * 86400e6).astype("timedelta64[us]")
    end = np.datetime64(until.replace(tzinfo=None), "us")
    cancelled &= cancel_at < end
    subscriptions = pa.table(
        {
            "subscription_id": np.arange(1, ns + 1, dtype="int64"),
            "player_id": subscribers.astype("int64"),
            "plan_id": _pick([p[0] for p in PLANS], plan_idx),
            "status": _pick(["active", "cancelled"], cancelled.astype("int64")),
            "started_at": _ts(sub_start),
            "cancelled_at": _ts(cancel_at, mask=~cancelled),
            "updated_at": _ts(np.where(cancelled, cancel_at, sub_start)),
        }
    )

    # One payment per period from the start until cancelled (or history's end).
    period = np.array([p[3] for p in PLANS])[plan_idx] * np.timedelta64(30 * 86400, "s")
    period_us = period.astype("timedelta64[us]").astype("int64")
    paid_for = (np.where(cancelled, cancel_at, end) - sub_start).astype("int64")
    per_sub = np.where(paid_for > 0, -(-paid_for // period_us), 0)
    sub = np.repeat(np.arange(ns), per_sub)
    nth = np.arange(len(sub)) - np.repeat(np.cumsum(per_sub) - per_sub, per_sub)
    npay = len(sub)
    status_draw = rng.random(npay)
    payments = pa.table(
        {
            "payment_id": np.arange(1, npay + 1, dtype="int64"),
            "player_id": subscribers[sub].astype("int64"),
            "subscription_id": (sub + 1).astype("int64"),
            "amount_brl": _pick([p[2] for p in PLANS], plan_idx[sub]).cast(pa.decimal128(12, 2)),
            "method": _pick(PAYMENT_METHODS, rng.choice(3, npay, p=[0.55, 0.35, 0.10])),
            "status": _pick(
                ["paid", "refunded", "failed"],
                (status_draw < 0.06).astype("int64") + (status_draw < 0.04),
            ),
            "created_at": _ts(sub_start[sub] + (nth * period_us[sub]).astype("timedelta64[us]")),
        }
    )

    # lobbies and matches: one lobby per match
    nm = n["matches"]
    match_ids = np.arange(1, nm + 1, dtype="int64")
    roster = _rosters(rng, nm, np_)
    lobby_time = np.sort(_times(rng, nm, start + timedelta(days=HISTORY_DAYS // 2), span / 2))
    started = lobby_time + (rng.integers(30, 300, nm) * 1e6).astype("timedelta64[us]")
    ended = started + (rng.integers(15 * 60, 45 * 60, nm) * 1e6).astype("timedelta64[us]")
    maps = rng.integers(0, len(MAPS), nm)
    modes = rng.integers(0, len(MODES), nm)
    winner = rng.integers(1, 3, nm).astype("int16")
    lobbies = pa.table(
        {
            "lobby_id": match_ids,
            "host_player_id": roster[:, 0].astype("int64"),
            "map": _pick(MAPS, maps),
            "mode": _pick(MODES, modes),
            "region": _pick(REGIONS, rng.integers(0, len(REGIONS), nm)),
            "status": pa.repeat(pa.scalar("closed"), nm),
            "created_at": _ts(lobby_time),
        }
    )
    matches = pa.table(
        {
            "match_id": match_ids,
            "lobby_id": match_ids,
            "map": _pick(MAPS, maps),
            "mode": _pick(MODES, modes),
            "started_at": _ts(started),
            "ended_at": _ts(ended),
            "winning_team": winner,
        }
    )

    nmp = nm * PLAYERS_PER_MATCH
    team = np.tile(np.repeat(np.array([1, 2], dtype="int16"), PLAYERS_PER_MATCH // 2), nm)
    kills = rng.poisson(6, nmp).astype("int32")
    deaths = rng.poisson(6, nmp).astype("int32")
    assists = rng.poisson(4, nmp).astype("int32")
    match_players = pa.table(
        {
            "match_id": np.repeat(match_ids, PLAYERS_PER_MATCH),
            "player_id": roster.reshape(-1).astype("int64"),
            "team": team,
            "kills": kills,
            "deaths": deaths,
            "assists": assists,
            "score": (kills * 100 + assists * 50).astype("int32"),
            "won": team == np.repeat(winner, PLAYERS_PER_MATCH),
        }
    )

    return {
        "plans": plans,
        "players": players,
        "subscriptions": subscriptions,
        "payments": payments,
        "lobbies": lobbies,
        "matches": matches,
        "match_players": match_players,
    }
