"""Metabase provisioning against recorded shapes of the pinned Metabase API.

``API`` below records, for each call ``sandbox.serve.metabase.provision`` makes, the
request fields Metabase accepts and the response fields it returns, read from the
metabase/metabase sources: ``src/metabase/setup/api.clj`` (``POST /api/setup``),
``src/metabase/dashboards_rest/api.clj`` (``POST /api/dashboard``, the
``UpdatedDashboardCard`` schema of ``PUT /api/dashboard/:id``, and ``GET
/api/dashboard`` marked ``{:deprecated true}``) and ``docs/api`` (session, database,
card, collection items). Those are snapshots of the 0.5x line, not the v0.56.6 tag
itself. A stand-in server answers only with recorded fields and refuses unknown or
missing ones, so a field renamed on either side fails here instead of on a laptop.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from sandbox.platform.settings import PROJECT_ROOT, Settings
from sandbox.serve.metabase import (
    MetabaseAdmin,
    MetabaseError,
    check_password,
    provision,
    warehouse_connection,
)

DASHBOARD = json.loads((PROJECT_ROOT / "compose" / "metabase" / "dashboard.json").read_text())

# A request shape: field -> True (required) / False (optional); a nested dict is a
# nested object (required if it has a required field); a one-item list is a list of
# such objects.
Shape = dict[str, Any]
DASHCARD: Shape = {
    "id": True,
    "card_id": False,
    "row": True,
    "col": True,
    "size_x": True,
    "size_y": True,
    "dashboard_tab_id": False,
    "parameter_mappings": False,
    "series": False,
    "visualization_settings": False,
    "action_id": False,
    "inline_parameters": False,
}
API: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", r"/api/session/properties"): {
        "auth": False,
        "response": ["setup-token", "has-user-setup", "site-name", "version"],
    },
    ("POST", r"/api/setup"): {
        "auth": False,
        "request": {
            "token": True,
            "user": {"email": True, "password": True, "first_name": False, "last_name": False},
            "invite": {"email": False, "first_name": False, "last_name": False},
            "prefs": {"site_name": True, "site_locale": False},
        },
        "response": ["id"],
    },
    ("POST", r"/api/session"): {
        "auth": False,
        "request": {"username": True, "password": True},
        "response": ["id"],
    },
    ("GET", r"/api/database"): {"response": ["data", "total"]},
    ("POST", r"/api/database"): {
        "request": {
            "engine": True,
            "name": True,
            "details": True,
            "is_full_sync": False,
            "is_on_demand": False,
            "schedules": False,
            "auto_run_queries": False,
            "cache_ttl": False,
            "connection_source": False,
        },
        "response": ["id", "name", "engine", "details", "is_sample"],
    },
    ("GET", r"/api/collection/root/items\?models=card&models=dashboard"): {
        "response": ["data", "total", "models", "limit", "offset"],
    },
    ("POST", r"/api/card"): {
        "request": {
            "name": True,
            "dataset_query": True,
            "display": True,
            "visualization_settings": True,
            "description": False,
            "collection_id": False,
            "collection_position": False,
            "result_metadata": False,
            "parameters": False,
            "parameter_mappings": False,
            "cache_ttl": False,
            "type": False,
            "dashboard_id": False,
            "dashboard_tab_id": False,
        },
        "response": ["id", "name", "display", "dataset_query", "collection_id"],
    },
    ("POST", r"/api/dashboard"): {
        "request": {
            "name": True,
            "description": False,
            "parameters": False,
            "cache_ttl": False,
            "collection_id": False,
            "collection_position": False,
        },
        "response": ["id", "name", "description", "collection_id", "dashcards", "tabs"],
    },
    ("GET", r"/api/dashboard/\d+"): {
        "response": ["id", "name", "description", "collection_id", "dashcards", "tabs"],
    },
    ("PUT", r"/api/dashboard/\d+"): {
        "request": {
            "dashcards": [DASHCARD],
            "tabs": False,
            "name": False,
            "description": False,
            "parameters": False,
            "collection_id": False,
            "archived": False,
        },
        "response": ["id", "name", "description", "collection_id", "dashcards", "tabs"],
    },
}
ITEM_FIELDS = ["id", "name", "model", "description", "collection_position"]  # collection items
DASHCARD_FIELDS = ["id", "card_id", "dashboard_id", "row", "col", "size_x", "size_y"]
NATIVE_QUERY: Shape = {"type": True, "database": True, "native": {"query": True}}


def required(rule: Any) -> bool:
    """A field is required if marked True, or an object with a required field."""
    return rule is True or (isinstance(rule, dict) and any(map(required, rule.values())))


def shape_errors(body: Any, shape: Shape, where: str = "") -> list[str]:
    """What in ``body`` the recorded request shape does not allow or misses."""
    if not isinstance(body, dict):
        return [f"{where or 'body'} is not an object"]
    errors = [f"unknown field {where}{k}" for k in body if k not in shape]
    for key, rule in shape.items():
        if key not in body:
            if required(rule):
                errors.append(f"missing field {where}{key}")
        elif isinstance(rule, dict):
            errors += shape_errors(body[key], rule, f"{where}{key}.")
        elif isinstance(rule, list):
            for i, item in enumerate(body[key]):
                errors += shape_errors(item, rule[0], f"{where}{key}[{i}].")
    return errors


def only(fields: list[str], obj: dict) -> dict:
    return {k: obj.get(k) for k in fields}


class RecordedMetabase(BaseHTTPRequestHandler):
    """Answers the recorded calls from memory, with recorded fields only."""

    state: ClassVar[dict] = {}
    api: ClassVar[dict] = API

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, body: Any, code: int = 200) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _handle(self, method: str) -> None:
        contract = next(
            (c for (m, p), c in self.api.items() if m == method and re.fullmatch(p, self.path)),
            None,
        )
        if contract is None:
            return self._send({"message": f"no such call {method} {self.path}"}, 404)
        s = self.state
        if contract.get("auth", True) and self.headers.get("X-Metabase-Session") != "sess":
            return self._send("Unauthenticated", 401)
        body = None
        if "request" in contract:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            errors = shape_errors(body, contract["request"])
            if self.path == "/api/card":
                errors += shape_errors(body["dataset_query"], NATIVE_QUERY, "dataset_query.")
            if errors:
                return self._send({"errors": errors}, 400)
            s["writes"].append((method, self.path))
        code, answer = self._answer(method, body)
        if code == 200 and isinstance(answer, dict) and "response" in contract:
            answer = only(contract["response"], answer)
        self._send(answer, code)

    def _answer(self, method: str, body: Any) -> tuple[int, Any]:
        s, path = self.state, self.path
        if path == "/api/session/properties":
            return 200, {
                "setup-token": s["token"],
                "has-user-setup": s["user"] is not None,
                "site-name": "Metabase",
                "version": {"tag": "v0.56.6"},
            }
        if path == "/api/setup":
            if s["user"] is not None or body["token"] != s["token"]:
                return 403, {"message": "setup is done"}
            s["user"] = body["user"]
            return 200, {"id": "setup-session"}
        if path == "/api/session":
            ok = s["user"] and body["password"] == s["user"]["password"]
            return (200, {"id": "sess"}) if ok else (401, {"errors": {"password": "wrong"}})
        if path == "/api/database" and method == "GET":
            return 200, {"data": s["databases"], "total": len(s["databases"])}
        if path.startswith("/api/collection/root/items"):
            items = [only(ITEM_FIELDS, c | {"model": "card"}) for c in s["cards"]]
            items += [only(ITEM_FIELDS, d | {"model": "dashboard"}) for d in s["dashboards"]]
            return 200, {
                "data": items,
                "total": len(items),
                "models": ["card", "dashboard"],
                "limit": None,
                "offset": None,
            }
        kind = {"/api/database": "databases", "/api/card": "cards", "/api/dashboard": "dashboards"}
        if method == "POST" and path in kind:
            items = s[kind[path]]
            items.append(body | {"id": len(items) + 1, "dashcards": [], "tabs": []})
            return 200, items[-1]
        dash = s["dashboards"][int(path.rsplit("/", 1)[1]) - 1]
        if method == "PUT":
            dash["dashcards"] = [
                only(DASHCARD_FIELDS, dc | {"id": i + 1, "dashboard_id": dash["id"]})
                for i, dc in enumerate(body["dashcards"])
            ]
        return 200, dash

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")


@pytest.fixture
def metabase() -> Iterator[str]:
    RecordedMetabase.state = {
        "token": "tok",
        "user": None,
        "databases": [],
        "cards": [],
        "dashboards": [],
        "writes": [],
    }
    RecordedMetabase.api = API
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordedMetabase)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


ADMIN = MetabaseAdmin("admin@sandbox.local", "Sandb0x-admin")


def warehouse() -> dict:
    return warehouse_connection(Settings(_env_file=None, profile="compose"))


def test_provisioning_follows_the_recorded_api_and_is_idempotent(metabase: str) -> None:
    first = provision(metabase, ADMIN, warehouse())
    state = RecordedMetabase.state
    assert "admin" in first.created and "database warehouse" in first.created
    assert [c["name"] for c in state["cards"]] == [c["name"] for c in DASHBOARD["cards"]]
    assert len(state["dashboards"]) == 1
    assert len(state["dashboards"][0]["dashcards"]) == len(DASHBOARD["cards"])
    assert state["databases"][0]["details"]["host"] == "postgres"  # the compose service
    for card in state["cards"]:
        assert card["dataset_query"]["database"] == 1
        assert "gold." in card["dataset_query"]["native"]["query"]
    writes = len(state["writes"])
    second = provision(metabase, ADMIN, warehouse())
    assert second.created == []
    # only the login is written the second time: nothing is created or changed
    assert state["writes"][writes:] == [("POST", "/api/session")]


@pytest.mark.parametrize(
    ("call", "old", "new"),
    [
        (("GET", r"/api/session/properties"), "setup-token", "setup_token"),
        (("POST", r"/api/session"), "id", "session_id"),
        (("GET", r"/api/collection/root/items\?models=card&models=dashboard"), "data", "items"),
        (("GET", r"/api/dashboard/\d+"), "dashcards", "ordered_cards"),
    ],
)
def test_a_renamed_response_field_fails(metabase: str, call: tuple, old: str, new: str) -> None:
    renamed = dict(API)
    renamed[call] = dict(
        API[call], response=[new if f == old else f for f in API[call]["response"]]
    )
    RecordedMetabase.api = renamed
    with pytest.raises((KeyError, TypeError, MetabaseError)):
        provision(metabase, ADMIN, warehouse())


def test_a_renamed_request_field_is_refused(metabase: str) -> None:
    renamed = dict(API)
    shape = dict(API[("POST", r"/api/setup")]["request"])
    shape["prefs"] = {"name_of_site": True}
    renamed[("POST", r"/api/setup")] = dict(API[("POST", r"/api/setup")], request=shape)
    RecordedMetabase.api = renamed
    with pytest.raises(MetabaseError, match=r"POST /api/setup -> 400.*site_name"):
        provision(metabase, ADMIN, warehouse())


@pytest.mark.parametrize("password", ["change-me-on-first-up", "abc12", ""])
def test_a_password_metabase_would_refuse_is_named_before_any_call(password: str) -> None:
    with pytest.raises(MetabaseError, match=r"METABASE_ADMIN_PASSWORD.*digit"):
        check_password(password, where="METABASE_ADMIN_PASSWORD in .env")
    # provision refuses it too, without reaching the (absent) server
    with pytest.raises(MetabaseError, match="admin password"):
        provision("http://127.0.0.1:9", MetabaseAdmin("a@b.c", password), {})
