"""Deterministic events for generated data: the committed sample and test fixtures.

The same ``(tables, seed)`` always gives the same events, ids and times included:
a login shortly before each match a player played, the lobby, the match start and
finish with per-player results, and a purchase for every paid payment.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta
from pathlib import Path

import pyarrow as pa

from sandbox.ingest.events.schemas import STREAM_OF_TYPE


def _ts(value) -> str:
    return value.isoformat(timespec="milliseconds")


def sample_events(tables: dict[str, pa.Table], seed: int = 42) -> list[dict]:
    """Events consistent with generated ``tables`` (logins, lobbies, match starts and
    finishes, payments), deterministic for ``seed``."""
    rng = random.Random(seed)

    def event(event_type: str, when, **fields) -> dict:
        eid = uuid.UUID(int=rng.getrandbits(128), version=4)
        return {"event_id": str(eid), "event_type": event_type, "event_time": _ts(when), **fields}

    lobbies = {r["lobby_id"]: r for r in tables["lobbies"].to_pylist()}
    roster: dict[int, list[dict]] = {}
    for r in tables["match_players"].to_pylist():
        roster.setdefault(r["match_id"], []).append(r)
    events = []
    for m in tables["matches"].to_pylist():
        players = roster.get(m["match_id"], [])
        lobby = lobbies[m["lobby_id"]]
        for p in players:
            before = timedelta(minutes=rng.randint(5, 60))
            events.append(
                event(
                    "player_login",
                    m["started_at"] - before,
                    player_id=p["player_id"],
                    platform=rng.choice(["pc", "console", "mobile"]),
                )
            )
        events.append(
            event(
                "lobby_created",
                lobby["created_at"],
                lobby_id=lobby["lobby_id"],
                player_id=lobby["host_player_id"],
                map=lobby["map"],
                mode=lobby["mode"],
            )
        )
        events.append(
            event(
                "match_started",
                m["started_at"],
                match_id=m["match_id"],
                lobby_id=m["lobby_id"],
                player_ids=[p["player_id"] for p in players],
            )
        )
        if m["ended_at"] is not None:
            results = [
                {k: p[k] for k in ("player_id", "team", "kills", "deaths", "assists")}
                | {"won": bool(p["won"])}
                for p in players
            ]
            duration = int((m["ended_at"] - m["started_at"]).total_seconds())
            events.append(
                event(
                    "match_finished",
                    m["ended_at"],
                    match_id=m["match_id"],
                    winning_team=m["winning_team"],
                    duration_s=duration,
                    results=results,
                )
            )
    plan_of = {r["subscription_id"]: r["plan_id"] for r in tables["subscriptions"].to_pylist()}
    for p in tables["payments"].to_pylist():
        if p["status"] == "paid":
            events.append(
                event(
                    "purchase",
                    p["created_at"],
                    player_id=p["player_id"],
                    payment_id=p["payment_id"],
                    subscription_id=p["subscription_id"],
                    plan_id=plan_of.get(p["subscription_id"], "monthly"),
                    amount_brl=str(p["amount_brl"]),
                    method=p["method"],
                )
            )
    events.sort(key=lambda e: (e["event_time"], e["event_id"]))
    return events


def write_sample_events(events: list[dict], folder: Path) -> dict[str, int]:
    """``<folder>/<stream>.jsonl``, one bare event per line (raw message delivery)."""
    folder.mkdir(parents=True, exist_ok=True)
    by_stream: dict[str, list[str]] = {}
    for e in events:
        by_stream.setdefault(STREAM_OF_TYPE[e["event_type"]], []).append(json.dumps(e))
    for stream, lines in by_stream.items():
        (folder / f"{stream}.jsonl").write_text("\n".join(lines) + "\n")
    return {s: len(lines) for s, lines in by_stream.items()}
