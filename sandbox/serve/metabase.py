"""Metabase provisioning as code: admin account, the warehouse connection, a dashboard.

Everything is described in ``compose/metabase/dashboard.json`` and settings; running
it again changes nothing (each object is looked up by name before it is created).
It runs after Metabase reports healthy (``sandbox up --profile compose``).

The calls and fields are those of the pinned Metabase (``compose/docker-compose.yml``);
tests/platform/test_compose_metabase.py replays them against recorded shapes of that
API. Existing cards and dashboards are found through the root collection's items
(``GET /api/dashboard`` is deprecated), where this module creates them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.platform import SandboxError, Settings
from sandbox.platform.settings import PROJECT_ROOT

DASHBOARD_FILE = PROJECT_ROOT / "compose" / "metabase" / "dashboard.json"


class MetabaseError(SandboxError):
    """Metabase refused a provisioning call (names the call and the answer)."""


# Metabase's default password rule ("normal" complexity): at least 6 characters, one
# of them a digit. Checked before the first call so the error names the setting.
MIN_PASSWORD_LENGTH = 6


def check_password(password: str, *, where: str) -> None:
    """Raise a one-line error if Metabase's default rule would refuse ``password``."""
    if len(password) < MIN_PASSWORD_LENGTH or not any(c.isdigit() for c in password):
        raise MetabaseError(
            f"metabase: {where} must have at least {MIN_PASSWORD_LENGTH} characters "
            "including a digit (Metabase's default password rule)"
        )


def warehouse_connection(settings: Settings) -> dict[str, Any]:
    """The ``POST /api/database`` body for the warehouse, as seen from the container."""
    return {
        "engine": "postgres",
        "name": "warehouse",
        "details": {
            "host": "postgres",  # the compose service name; Metabase runs beside it
            "port": 5432,
            "dbname": settings.warehouse_db,
            "user": settings.postgres_user,
            "password": settings.postgres_password.get_secret_value(),
            "schema-filters-type": "inclusion",
            "schema-filters-patterns": "gold",
        },
    }


@dataclass
class MetabaseAdmin:
    """The Metabase administrator the sandbox sets up."""

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
    check_password(admin.password, where="the admin password")
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
                },
                "prefs": {"site_name": "Lakehouse sandbox"},
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
    items = mb.call("GET", "/api/collection/root/items?models=card&models=dashboard")["data"]
    cards = {i["name"]: i for i in items if i["model"] == "card"}
    dashboards = {i["name"]: i for i in items if i["model"] == "dashboard"}
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

    dash = dashboards.get(spec["name"])
    if dash is None:
        dash = mb.call(
            "POST", "/api/dashboard", {"name": spec["name"], "description": spec.get("description")}
        )
        report.created.append(f"dashboard {spec['name']}")
    current = mb.call("GET", f"/api/dashboard/{dash['id']}")
    placed = sorted(dc["card_id"] for dc in current["dashcards"])
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
