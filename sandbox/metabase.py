"""Metabase provisioning as code: admin account, the warehouse connection, a dashboard.

Everything is described in ``compose/metabase/dashboard.json`` and settings; running
it again changes nothing (each object is looked up by name before it is created).
It runs after Metabase reports healthy (``sandbox up --profile compose``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.services.base import SandboxError

DASHBOARD_FILE = Path(__file__).parents[1] / "compose" / "metabase" / "dashboard.json"


class MetabaseError(SandboxError):
    """Metabase refused a provisioning call (names the call and the answer)."""


@dataclass
class MetabaseAdmin:
    email: str
    password: str
    first_name: str = "Sandbox"
    last_name: str = "Admin"


@dataclass
class ProvisionReport:
    created: list[str] = field(default_factory=list)  # what this run created
    kept: list[str] = field(default_factory=list)  # what already existed


class MetabaseClient:
    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.session: str | None = None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.session:
            req.add_header("X-Metabase-Session", self.session)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise MetabaseError(f"metabase: {method} {path} -> {exc.code}: {detail}") from exc
        return json.loads(raw) if raw else None


def provision(
    base_url: str,
    admin: MetabaseAdmin,
    warehouse: dict[str, Any],
    dashboard_file: Path = DASHBOARD_FILE,
) -> ProvisionReport:
    """Make Metabase match the files: idempotent, safe to run on every ``up``."""
    report = ProvisionReport()
    mb = MetabaseClient(base_url)
    props = mb.call("GET", "/api/session/properties")
    if not props.get("has-user-setup"):
        mb.call(
            "POST",
            "/api/setup",
            {
                "token": props["setup-token"],
                "user": {
                    "email": admin.email,
                    "password": admin.password,
                    "first_name": admin.first_name,
                    "last_name": admin.last_name,
                    "site_name": "Lakehouse sandbox",
                },
                "prefs": {"site_name": "Lakehouse sandbox", "allow_tracking": False},
            },
        )
        report.created.append("admin")
    else:
        report.kept.append("admin")
    mb.session = mb.call(
        "POST", "/api/session", {"username": admin.email, "password": admin.password}
    )["id"]

    databases = mb.call("GET", "/api/database")
    databases = databases.get("data", databases) if isinstance(databases, dict) else databases
    db = next((d for d in databases if d["name"] == warehouse["name"]), None)
    if db is None:
        db = mb.call("POST", "/api/database", warehouse)
        report.created.append(f"database {warehouse['name']}")
    else:
        report.kept.append(f"database {warehouse['name']}")

    spec = json.loads(dashboard_file.read_text())
    cards = {c["name"]: c for c in mb.call("GET", "/api/card")}
    card_ids = []
    for card in spec["cards"]:
        existing = cards.get(card["name"])
        if existing is None:
            existing = mb.call(
                "POST",
                "/api/card",
                {
                    "name": card["name"],
                    "description": card.get("description"),
                    "display": card["display"],
                    "visualization_settings": card.get("visualization_settings", {}),
                    "dataset_query": {
                        "type": "native",
                        "database": db["id"],
                        "native": {"query": card["sql"]},
                    },
                },
            )
            report.created.append(f"card {card['name']}")
        else:
            report.kept.append(f"card {card['name']}")
        card_ids.append(existing["id"])

    dashboards = {d["name"]: d for d in mb.call("GET", "/api/dashboard")}
    dash = dashboards.get(spec["name"])
    if dash is None:
        dash = mb.call(
            "POST", "/api/dashboard", {"name": spec["name"], "description": spec.get("description")}
        )
        report.created.append(f"dashboard {spec['name']}")
    current = mb.call("GET", f"/api/dashboard/{dash['id']}")
    placed = sorted(dc["card_id"] for dc in current.get("dashcards", []))
    if placed != sorted(card_ids):
        dashcards = []
        for i, (card, card_id) in enumerate(zip(spec["cards"], card_ids, strict=True)):
            dashcards.append(
                {
                    "id": -(i + 1),
                    "card_id": card_id,
                    "row": card["row"],
                    "col": card["col"],
                    "size_x": card["size_x"],
                    "size_y": card["size_y"],
                }
            )
        mb.call("PUT", f"/api/dashboard/{dash['id']}", {"dashcards": dashcards})
        report.created.append(f"dashboard layout ({len(dashcards)} cards)")
    else:
        report.kept.append(f"dashboard {spec['name']}")
    return report
