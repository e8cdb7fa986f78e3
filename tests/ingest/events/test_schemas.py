"""The committed JSON Schemas match the typed models, and real events validate."""

from __future__ import annotations

import json

import jsonschema

from sandbox.ingest.events.schemas import EVENT_TYPES, SCHEMA_DIR, json_schemas, new_event


def test_committed_schemas_are_generated_from_the_models() -> None:
    for name, schema in json_schemas().items():
        committed = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
        assert committed == schema, (
            f"regenerate with `python -m sandbox.ingest.events.schemas` ({name})"
        )
    assert sorted(p.stem for p in SCHEMA_DIR.glob("*.json")) == sorted(EVENT_TYPES)


def test_an_event_validates_against_its_json_schema_and_a_bad_one_does_not() -> None:
    schema = json.loads((SCHEMA_DIR / "purchase.json").read_text())
    event = new_event(
        "purchase",
        player_id=1,
        payment_id=2,
        subscription_id=None,
        plan_id="monthly",
        amount_brl="19.90",
        method="pix",
    )
    jsonschema.validate(json.loads(json.dumps(event)), schema)
    bad = dict(event, method="cheque")
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError as exc:
        assert "cheque" in str(exc)
    else:
        raise AssertionError("a purchase paid by cheque passed the schema")
