"""Realistic application traffic against the ``app`` database, in transactions.

Each step is one transaction of the kind the game's backend runs: sign-ups, profile
edits (several updates of one row in one transaction), lobbies that become matches,
lobbies abandoned (inserted and deleted in the same transaction), match results,
subscriptions with their payments, cancellations and refunds, and the deletion of an
account that never played. Values include NULLs, unicode nicknames, numeric money in
BRL and timestamptz.

The simulator also reports the application events each transaction implies (login,
lobby created, match started/finished, purchase) to an ``on_event`` callback, with
ids that exist in the database — the SNS publisher plugs in there.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg

from sandbox.app.generator import (
    COUNTRIES,
    MAPS,
    MODES,
    NICK_STEMS,
    PAYMENT_METHODS,
    PLANS,
    REGIONS,
    tier_for,
)
from sandbox.ingest.events import new_event

Event = dict[str, Any]
OnEvent = Callable[[Event], None]

# Attempts after the first when a concurrent transaction conflicts (see Simulator.step).
RETRIES = 5
HI_REUSE = 20

# Kinds that write nothing (a login reads a player): no BEGIN/COMMIT round trips.
READ_ONLY = frozenset({"login"})
# Relative frequency of each kind of transaction.
WEIGHTS = {
    "login": 10,
    "signup": 6,
    "profile_edit": 6,
    "match": 10,
    "abandoned_lobby": 3,
    "subscribe": 4,
    "cancel": 2,
    "refund": 1,
    "delete_account": 1,
}


@dataclass
class SimulationReport:
    transactions: int = 0
    changes: int = 0
    events: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class Simulator:
    """Drives transactions on one connection; deterministic in ``seed`` for a given database."""

    def __init__(self, conn: psycopg.Connection, *, seed: int = 7, on_event: OnEvent | None = None):
        self.conn = conn
        self.rng = random.Random(seed)
        self.on_event = on_event
        self.report = SimulationReport()
        self._kinds = list(WEIGHTS)
        self._weights = [WEIGHTS[k] for k in self._kinds]
        # What a transaction is retried on: nothing alone; with other connections
        # writing too, the conflicts they cause (sandbox.app.pool sets it)
        self.retry_on: tuple[type[Exception], ...] = ()
        self._hi: dict[tuple[str, str], tuple[Any, int]] = {}  # (largest id, draws since)

    # -- driving ---------------------------------------------------------------

    def run(
        self,
        *,
        changes: int | None = None,
        duration_s: float | None = None,
        rate_tps: float | None = None,
        progress: Callable[[SimulationReport], None] | None = None,
    ) -> SimulationReport:
        """Run until ``changes`` more row changes were made or ``duration_s`` elapsed.

        The report accumulates over calls; the limits count from this call's start.
        """
        if changes is None and duration_s is None:
            raise ValueError("give changes or duration_s")
        deadline = None if duration_s is None else time.monotonic() + duration_s
        t0 = time.monotonic()
        start_changes, start_tx = self.report.changes, self.report.transactions
        while True:
            if changes is not None and self.report.changes - start_changes >= changes:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            self.step()
            if progress and self.report.transactions % 200 == 0:
                progress(self.report)
            if rate_tps:
                done = self.report.transactions - start_tx
                ahead = done / rate_tps - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        return self.report

    def step(self) -> str:
        kind = self.rng.choices(self._kinds, self._weights)[0]
        events: list[Event] = []
        for attempt in range(RETRIES + 1):
            try:
                if kind in READ_ONLY:
                    n = getattr(self, f"_{kind}")(events)
                else:
                    with self.conn.transaction():
                        n = getattr(self, f"_{kind}")(events)
                break
            except self.retry_on:
                # another connection's transaction got there first (a deadlock, a row it
                # deleted): rolled back, tried again as an application would
                events.clear()
                if attempt == RETRIES:
                    raise
        self.report.transactions += 1
        self.report.changes += n
        self.report.by_kind[kind] = self.report.by_kind.get(kind, 0) + 1
        # Events are published after the commit, as an application would.
        for fields in events:
            self.report.events += 1
            if self.on_event:
                self.on_event(new_event(fields.pop("type"), **fields))
        return kind

    # -- helpers ---------------------------------------------------------------

    def _exec(self, query: str, params: tuple = ()) -> int:
        cur = self.conn.execute(query, params)
        return max(cur.rowcount, 0)

    def _one(self, query: str, params: tuple = ()) -> Any:
        row = self.conn.execute(query, params).fetchone()
        return None if row is None else row[0]

    def _largest(self, table: str, key: str, where: str) -> int | None:
        """The largest id, looked up again every ``HI_REUSE`` draws: ids drawn meanwhile
        come from a range a few rows short (or long: a lookup falls back to the
        smallest id), never from outside the table."""
        hi, uses = self._hi.get((table, where), (None, HI_REUSE))
        if uses >= HI_REUSE:
            hi, uses = self._one(f"select max({key}) from {table} where {where}"), 0
        self._hi[(table, where)] = (hi, uses + 1)
        return hi

    def _random_id(self, table: str, key: str, where: str = "true") -> int | None:
        """A random existing id (uniform over the id range, then the next existing one)."""
        ids = self._draw(table, key, where, 1)
        return ids[0] if ids else None

    def _draw(self, table: str, key: str, where: str, n: int) -> list[int]:
        """``n`` draws of ``_random_id`` in one statement (empty if the table has none)."""
        hi = self._largest(table, key, where)
        if hi is None:
            return []
        picks = [self.rng.randint(1, hi) for _ in range(n)]
        rows = self.conn.execute(
            f"select coalesce((select {key} from {table} where {key} >= t.pick and {where} "
            f"order by {key} limit 1), (select min({key}) from {table} where {where})) "
            "from unnest(%s::bigint[]) with ordinality as t (pick, i) order by t.i",
            (picks,),
        ).fetchall()
        return [r[0] for r in rows if r[0] is not None]

    def _roster(self, size: int) -> list[int] | None:
        """``size`` distinct random players who are not banned (None if there are none)."""
        roster: list[int] = []
        for _ in range(size * 10):  # fewer than ``size`` such players: None, not a hang
            drawn = self._draw("players", "player_id", "not is_banned", size - len(roster))
            roster += [pid for pid in dict.fromkeys(drawn) if pid not in roster]
            if len(roster) >= size or not drawn:
                break
        return roster[:size] if len(roster) >= size else None

    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC)

    # -- transactions ----------------------------------------------------------

    def _login(self, events: list[Event]) -> int:
        player = self._random_id("players", "player_id", "not is_banned")
        if player is None:
            return self._signup(events)
        platform = self.rng.choice(["pc", "pc", "console", "mobile"])
        events.append({"type": "player_login", "player_id": player, "platform": platform})
        return 0

    def _signup(self, events: list[Event]) -> int:
        stem = self.rng.choice(NICK_STEMS)
        mmr = int(min(max(self.rng.gauss(1200, 200), 0), 3200))
        email = None if self.rng.random() < 0.15 else f"new{self.rng.randrange(10**9)}@example.com"
        player = self._one(
            "insert into players (nickname, email, country, skill_tier, mmr) "
            "values (%s, %s, %s, %s, %s) returning player_id",
            (
                f"{stem}_{self.rng.randrange(10**6)}",
                email,
                self.rng.choice(COUNTRIES),
                tier_for(mmr),
                mmr,
            ),
        )
        events.append({"type": "player_login", "player_id": player, "platform": "pc"})
        return 1

    def _profile_edit(self, events: list[Event]) -> int:
        player = self._random_id("players", "player_id")
        if player is None:
            return self._signup(events)
        n = 0
        # Several updates of the same row in one transaction.
        for _ in range(self.rng.randint(2, 3)):
            n += self._exec(
                "update players set nickname = %s, updated_at = now() where player_id = %s",
                (f"{self.rng.choice(NICK_STEMS)}-{self.rng.randrange(10**4)}", player),
            )
        if self.rng.random() < 0.3:
            n += self._exec(
                "update players set email = null, updated_at = now() where player_id = %s",
                (player,),
            )
        return n

    def _match(self, events: list[Event]) -> int:
        roster = self._roster(10)
        if roster is None:
            return self._signup(events)
        map_, mode = self.rng.choice(MAPS), self.rng.choice(MODES)
        lobby = self._one(
            "insert into lobbies (host_player_id, map, mode, region, status, created_at) "
            "values (%s, %s, %s, %s, 'open', now()) returning lobby_id",
            (roster[0], map_, mode, self.rng.choice(REGIONS)),
        )
        events.append(
            {
                "type": "lobby_created",
                "lobby_id": lobby,
                "player_id": roster[0],
                "map": map_,
                "mode": mode,
            }
        )
        match = self._one(
            "insert into matches (lobby_id, map, mode, started_at) "
            "values (%s, %s, %s, now()) returning match_id",
            (lobby, map_, mode),
        )
        n = 2
        events.append(
            {"type": "match_started", "match_id": match, "lobby_id": lobby, "player_ids": roster}
        )
        winner = self.rng.randint(1, 2)
        results, rows, deltas = [], [], []
        for i, pid in enumerate(roster):
            team = 1 if i < 5 else 2
            k, d, a = self.rng.randint(0, 15), self.rng.randint(0, 15), self.rng.randint(0, 10)
            rows.append((match, pid, team, k, d, a, k * 100 + a * 50, team == winner))
            won = team == winner
            results.append(dict(player_id=pid, team=team, kills=k, deaths=d, assists=a, won=won))
            deltas.append((pid, 25 if team == winner else -25))
        deltas.sort()  # players updated in id order: deadlocks between matches are rare
        # The rest needs no answer in between: one round trip. One statement for the ten
        # rows, one for the ten players: the same row changes.
        with self.conn.pipeline():
            cursors = [
                self.conn.execute(
                    "update lobbies set status = 'closed' where lobby_id = %s", (lobby,)
                ),
                self.conn.execute(
                    "insert into match_players (match_id, player_id, team, kills, deaths, "
                    "assists, score, won) values "
                    + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows)),
                    tuple(v for row in rows for v in row),
                ),
                self.conn.execute(
                    "update players p set mmr = greatest(p.mmr + v.delta, 0), updated_at = now() "
                    "from (values " + ", ".join(["(%s::bigint, %s::int)"] * len(deltas)) + ") "
                    "as v (player_id, delta) where p.player_id = v.player_id",
                    tuple(v for pair in deltas for v in pair),
                ),
                self.conn.execute(
                    "update matches set ended_at = now() + interval '25 minutes', "
                    "winning_team = %s where match_id = %s",
                    (winner, match),
                ),
            ]
        n += sum(max(cur.rowcount, 0) for cur in cursors)
        events.append(
            dict(type="match_finished", match_id=match, winning_team=winner, duration_s=1500)
            | {"results": results}
        )
        return n

    def _abandoned_lobby(self, events: list[Event]) -> int:
        host = self._random_id("players", "player_id")
        if host is None:
            return self._signup(events)
        # Inserted and deleted in the same transaction: CDC sees both, the table neither.
        lobby = self._one(
            "insert into lobbies (host_player_id, map, mode, region, status, created_at) "
            "values (%s, %s, %s, %s, 'open', now()) returning lobby_id",
            (host, self.rng.choice(MAPS), self.rng.choice(MODES), self.rng.choice(REGIONS)),
        )
        return 1 + self._exec("delete from lobbies where lobby_id = %s", (lobby,))

    def _subscribe(self, events: list[Event]) -> int:
        player = self._random_id("players", "player_id")
        if player is None:
            return self._signup(events)
        plan_id, _, price, _ = self.rng.choice(PLANS)
        sub = self._one(
            "insert into subscriptions (player_id, plan_id, status, started_at) "
            "values (%s, %s, 'active', now()) returning subscription_id",
            (player, plan_id),
        )
        method = self.rng.choice(PAYMENT_METHODS)
        payment = self._one(
            "insert into payments (player_id, subscription_id, amount_brl, method, status, "
            "created_at) values (%s, %s, %s, %s, 'paid', now()) returning payment_id",
            (player, sub, Decimal(price), method),
        )
        events.append(
            {
                "type": "purchase",
                "player_id": player,
                "payment_id": payment,
                "subscription_id": sub,
                "plan_id": plan_id,
                "amount_brl": price,
                "method": method,
            }
        )
        return 2

    def _cancel(self, events: list[Event]) -> int:
        sub = self._random_id("subscriptions", "subscription_id", "status = 'active'")
        if sub is None:
            return self._subscribe(events)
        return self._exec(
            "update subscriptions set status = 'cancelled', cancelled_at = now(), "
            "updated_at = now() where subscription_id = %s",
            (sub,),
        )

    def _refund(self, events: list[Event]) -> int:
        payment = self._random_id("payments", "payment_id", "status = 'paid'")
        if payment is None:
            return self._subscribe(events)
        return self._exec(
            "update payments set status = 'refunded' where payment_id = %s", (payment,)
        )

    def _delete_account(self, events: list[Event]) -> int:
        # Only accounts with no history: deleting a player cascades to their rows. The
        # row is locked first (a match being written elsewhere now waits, or has
        # committed), then the history is looked at again, so no one's match goes with it.
        no_history = (
            "not exists (select 1 from match_players mp where mp.player_id = p.player_id) "
            "and not exists (select 1 from lobbies l where l.host_player_id = p.player_id) "
            "and not exists (select 1 from payments y where y.player_id = p.player_id)"
        )
        player = self._one(
            f"select p.player_id from players p where {no_history} "
            "order by p.player_id desc limit 1 for update of p"
        )
        if player is None:
            return self._signup(events)
        return self._exec(
            f"delete from players p where p.player_id = %s and {no_history}", (player,)
        )
