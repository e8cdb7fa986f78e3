"""Events without database changes: load for the Firehose path (``simulate --events-only``).

Ids are drawn from the ``app`` database, so these events join with CDC data like the
ones the simulator emits alongside its transactions. A share of them is late: their
``event_time`` is hours before they are sent, as with clients that were offline.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg

from sandbox.ingest.events.schemas import new_event

LATE_SHARE = 0.02


class IdPool:
    """Existing ids to reference: players, lobbies, matches with rosters, payments."""

    def __init__(self, conn: psycopg.Connection, *, limit: int = 50_000) -> None:
        self.players = [
            r[0]
            for r in conn.execute(
                "select player_id from players order by player_id desc limit %s", (limit,)
            )
        ]
        self.lobbies = conn.execute(
            "select lobby_id, host_player_id, map, mode from lobbies "
            "order by lobby_id desc limit %s",
            (limit,),
        ).fetchall()
        rosters: dict[int, list] = {}
        for match_id, lobby_id, player_id, team, won in conn.execute(
            "select m.match_id, m.lobby_id, mp.player_id, mp.team, mp.won from matches m "
            "join match_players mp using (match_id) "
            "where m.match_id > (select max(match_id) from matches) - %s",
            (limit // 10,),
        ):
            rosters.setdefault(match_id, [lobby_id, []])[1].append((player_id, team, won))
        self.matches = list(rosters.items())
        self.payments = conn.execute(
            "select payment_id, player_id, subscription_id, s.plan_id, amount_brl, method "
            "from payments p left join subscriptions s using (subscription_id, player_id) "
            "order by payment_id desc limit %s",
            (limit,),
        ).fetchall()
        if not self.players:
            raise ValueError("the app database has no players: run `sandbox seed` first")


def synthetic_events(pool: IdPool, rng: random.Random) -> Iterator[dict]:
    """An endless stream of valid events referencing existing ids."""
    kinds = ["player_login"] * 5 + ["lobby_created", "match_started", "match_finished", "purchase"]
    while True:
        kind = rng.choice(kinds)
        when = datetime.now(UTC)
        if rng.random() < LATE_SHARE:
            when -= timedelta(hours=rng.uniform(1, 5))
        if kind == "player_login" or (kind != "player_login" and not pool.matches):
            yield new_event(
                "player_login",
                event_time=when,
                player_id=rng.choice(pool.players),
                platform=rng.choice(["pc", "console", "mobile"]),
            )
        elif kind == "lobby_created":
            lobby_id, host, map_, mode = rng.choice(pool.lobbies)
            yield new_event(
                kind, event_time=when, lobby_id=lobby_id, player_id=host, map=map_, mode=mode
            )
        elif kind == "match_started":
            match_id, (lobby_id, roster) = rng.choice(pool.matches)
            yield new_event(
                kind,
                event_time=when,
                match_id=match_id,
                lobby_id=lobby_id,
                player_ids=[p for p, _, _ in roster],
            )
        elif kind == "match_finished":
            match_id, (_, roster) = rng.choice(pool.matches)
            winner = next((t for _, t, w in roster if w), 1)
            results = [
                {
                    "player_id": p,
                    "team": t,
                    "kills": rng.randint(0, 15),
                    "deaths": rng.randint(0, 15),
                    "assists": rng.randint(0, 10),
                    "won": bool(w),
                }
                for p, t, w in roster
            ]
            yield new_event(
                kind,
                event_time=when,
                match_id=match_id,
                winning_team=winner,
                duration_s=rng.randint(900, 2700),
                results=results,
            )
        elif pool.payments:
            pay_id, player, sub, plan, amount, method = rng.choice(pool.payments)
            yield new_event(
                "purchase",
                event_time=when,
                player_id=player,
                payment_id=pay_id,
                subscription_id=sub,
                plan_id=plan or "monthly",
                amount_brl=str(amount),
                method=method,
            )


def run_events(
    conn: psycopg.Connection,
    publish: Callable[[list[dict]], None],
    *,
    count: int | None = None,
    duration_s: float | None = None,
    rate: float | None = None,
    seed: int = 7,
    batch: int = 500,
) -> int:
    """Publish synthetic events until ``count`` or ``duration_s``; returns how many."""
    pool = IdPool(conn)
    stream = synthetic_events(pool, random.Random(seed))
    sent = 0
    t0 = time.monotonic()
    while True:
        if count is not None and sent >= count:
            break
        if duration_s is not None and time.monotonic() - t0 >= duration_s:
            break
        n = batch if count is None else min(batch, count - sent)
        if rate:
            n = max(1, min(n, int(rate / 10)))
        publish([next(stream) for _ in range(n)])
        sent += n
        if rate:
            ahead = sent / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    return sent
