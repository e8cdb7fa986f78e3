"""The application events: one typed model per event type, and their JSON Schemas.

Every event has an ``event_id`` (UUID), an ``event_type``, an ``event_time`` (UTC)
and ids that exist in the ``app`` database, so silver can join events with the CDC
tables. ``sandbox/ingest/events/schemas/*.json`` are generated from these models
(``python -m sandbox.ingest.events.schemas``) and checked by a test to stay in sync.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_DIR = Path(__file__).parent / "schemas"


# Strict: validated from JSON, "42" is not an int nor "yes" a bool (pydantic's strict
# mode still reads a UUID, a datetime and a decimal from a JSON string).
_STRICT = ConfigDict(extra="forbid", strict=True)


class _Event(BaseModel):
    model_config = _STRICT

    event_id: uuid.UUID
    event_time: datetime = Field(description="When it happened (UTC), not when it arrived.")


class PlayerLogin(_Event):
    event_type: Literal["player_login"]
    player_id: int
    platform: Literal["pc", "console", "mobile"]


class LobbyCreated(_Event):
    event_type: Literal["lobby_created"]
    lobby_id: int
    player_id: int = Field(description="The host.")
    map: str
    mode: str


class MatchStarted(_Event):
    event_type: Literal["match_started"]
    match_id: int
    lobby_id: int
    player_ids: list[int] = Field(min_length=2)


class PlayerResult(BaseModel):
    model_config = _STRICT

    player_id: int
    team: int
    kills: int = Field(ge=0)
    deaths: int = Field(ge=0)
    assists: int = Field(ge=0)
    won: bool


class MatchFinished(_Event):
    event_type: Literal["match_finished"]
    match_id: int
    winning_team: int
    duration_s: int = Field(ge=0)
    results: list[PlayerResult] = Field(min_length=1, description="One per player.")


class Purchase(_Event):
    event_type: Literal["purchase"]
    player_id: int
    payment_id: int
    subscription_id: int | None = None
    plan_id: str
    amount_brl: Decimal = Field(decimal_places=2)
    method: Literal["pix", "credit_card", "boleto"]


EVENT_TYPES: dict[str, type[_Event]] = {
    "player_login": PlayerLogin,
    "lobby_created": LobbyCreated,
    "match_started": MatchStarted,
    "match_finished": MatchFinished,
    "purchase": Purchase,
}

AnyEvent = Annotated[
    PlayerLogin | LobbyCreated | MatchStarted | MatchFinished | Purchase,
    Field(discriminator="event_type"),
]
EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyEvent)

# Which delivery stream each event type goes to (one SNS topic per stream).
STREAM_OF_TYPE = {
    "player_login": "gameplay-events",
    "lobby_created": "gameplay-events",
    "match_started": "gameplay-events",
    "match_finished": "gameplay-events",
    "purchase": "commerce-events",
}
STREAMS = sorted(set(STREAM_OF_TYPE.values()))


def new_event(event_type: str, *, event_time: datetime | None = None, **fields: Any) -> dict:
    """A JSON-ready event dict with a fresh id and the current UTC time."""
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "event_time": (event_time or datetime.now(UTC)).isoformat(timespec="milliseconds"),
        **fields,
    }


def json_schemas() -> dict[str, dict]:
    return {name: model.model_json_schema() for name, model in EVENT_TYPES.items()}


def write_schemas(folder: Path = SCHEMA_DIR) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (folder / f"{name}.json").write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    write_schemas()
