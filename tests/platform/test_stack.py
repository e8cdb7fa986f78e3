"""The embedded stack for real: Postgres, SeaweedFS and Sail as processes."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import time
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.platform.errors import PortInUseError
from sandbox.platform.services.process import tree
from sandbox.platform.services.s3 import s3_client
from sandbox.platform.stack import EmbeddedStack
from tests.conftest import isolated_settings

pytestmark = pytest.mark.slow


def _env(settings) -> dict[str, str]:
    """The environment that points the CLI at ``settings``."""
    return settings.as_env()


def _status(runner: CliRunner, env: dict[str, str]) -> dict:
    result = runner.invoke(app, ["status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_up_status_down_cycle(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "home")
    env = _env(settings)
    runner = CliRunner()
    assert {s["state"] for s in _status(runner, env)["services"]} == {"stopped"}

    result = runner.invoke(app, ["up"], env=env)
    assert result.exit_code == 0, result.output
    services = _status(runner, env)["services"]
    assert [s["name"] for s in services] == ["postgres", "s3", "spark"]
    for s in services:
        assert s["state"] == "running", s
        assert psutil.pid_exists(s["pid"])
        assert "127.0.0.1" in s["endpoint"]
    pids = {s["name"]: s["pid"] for s in services}

    # A second `up` is a no-op: same processes.
    assert runner.invoke(app, ["up"], env=env).exit_code == 0
    assert {s["name"]: s["pid"] for s in _status(runner, env)["services"]} == pids

    # Every process of ours, including Postgres backends, is gone after `down`.
    ours = [p for pid in pids.values() for p in tree(psutil.Process(pid))]
    assert len(ours) > 3  # postgres forks its background workers
    t0 = time.monotonic()
    assert runner.invoke(app, ["down"], env=env).exit_code == 0
    assert time.monotonic() - t0 < 15
    left = [p.pid for p in ours if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], f"orphans after down: {left}"
    assert {s["state"] for s in _status(runner, env)["services"]} == {"stopped"}
    for port in settings.s3_port, settings.postgres_port, settings.spark_port:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))  # free again


@pytest.mark.matrix  # 20 s: a full down and up; CI runs it after the default run
def test_data_survives_down_and_up(tmp_path: Path) -> None:
    stack = EmbeddedStack(isolated_settings(tmp_path / "home"))
    s = stack.settings
    ready: list[str] = []
    stack.up(on_ready=ready.append)
    assert ready == ["postgres", "s3", "spark"], "each service is announced as it is ready"
    try:
        pg = stack.service("postgres")
        with pg.connect(s.app_db) as conn:
            conn.execute("create table kept (id int primary key, note text)")
            conn.execute("insert into kept values (1, 'olá')")
        s3_client(s).put_object(s.raw_bucket, "kept/hello.txt", io.BytesIO(b"still here"), 10)
        stack.down()
        stack.up()
        with pg.connect(s.app_db) as conn:
            assert conn.execute("select note from kept").fetchall() == [("olá",)]
            (level,) = conn.execute("show wal_level").fetchone()
            assert level == "logical"
        with pg.connect(s.warehouse_db) as conn:
            assert conn.execute("select current_database()").fetchone() == (s.warehouse_db,)
        body = s3_client(s).get_object(s.raw_bucket, "kept/hello.txt").read()
        assert body == b"still here"
    finally:
        stack.down()


def test_busy_port_names_port_and_service_and_starts_nothing(tmp_path: Path) -> None:
    stack = EmbeddedStack(isolated_settings(tmp_path / "home"))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", stack.settings.spark_port))
        squatter.listen()
        with pytest.raises(PortInUseError) as info:
            stack.up()
    message = str(info.value)
    assert str(stack.settings.spark_port) in message
    assert "spark" in message
    assert f"pid {os.getpid()}" in message  # who holds it
    assert {st.state for st in stack.status()} == {"stopped"}


def test_busy_port_fails_the_cli_with_a_message(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "home")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.postgres_port))
        squatter.listen()
        result = CliRunner().invoke(app, ["up"], env=_env(settings))
    assert result.exit_code == 1
    assert f"port {settings.postgres_port} (postgres) is already in use" in result.output


def test_sigkill_is_detected_and_up_restarts_only_that_service(
    running_stack: EmbeddedStack,
) -> None:
    before = {st.name: st.pid for st in running_stack.status()}
    os.kill(before["s3"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (s3 := {st.name: st for st in running_stack.status()}["s3"]).state != "failed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert s3.log_tail, "a failed service shows the tail of its log"
    assert s3.to_json()["log_tail"] == s3.log_tail

    running_stack.up()
    after = {st.name: st for st in running_stack.status()}
    assert {n: st.state for n, st in after.items()} == dict.fromkeys(before, "running")
    assert after["postgres"].pid == before["postgres"]
    assert after["spark"].pid == before["spark"]
    assert after["s3"].pid != before["s3"]
    assert running_stack.service("s3").is_ready()


def test_spark_delta_write_read_merge_on_s3(running_stack: EmbeddedStack) -> None:
    from sandbox.platform.session import spark_session

    settings = running_stack.settings
    spark = spark_session(settings)
    path = settings.lake_uri("tests", "players")
    spark.createDataFrame(
        [(1, "ana", 10), (2, "bia", 20)], "id long, name string, score int"
    ).write.format("delta").mode("overwrite").save(path)
    rows = spark.read.format("delta").load(path).orderBy("id").collect()
    assert [(r.id, r.name, r.score) for r in rows] == [(1, "ana", 10), (2, "bia", 20)]

    spark.createDataFrame(
        [(2, "bia", 25), (3, "caio", 30)], "id long, name string, score int"
    ).createOrReplaceTempView("changes")
    spark.sql(f"CREATE TABLE IF NOT EXISTS players USING delta LOCATION '{path}'")
    spark.sql(
        "MERGE INTO players t USING changes c ON t.id = c.id "
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
    ).collect()
    rows = spark.read.format("delta").load(path).orderBy("id").collect()
    assert [(r.id, r.score) for r in rows] == [(1, 10), (2, 25), (3, 30)]

    # The table really lives on the S3 server, with a Delta log of two commits.
    keys = [
        o.object_name
        for o in s3_client(settings).list_objects(
            settings.lake_bucket, prefix="tests/players/_delta_log/", recursive=True
        )
    ]
    assert any(k.endswith("00000000000000000001.json") for k in keys), keys


def test_spark_session_says_when_the_server_is_down(tmp_path: Path) -> None:
    from sandbox.platform.session import SparkNotRunningError, spark_session

    settings = isolated_settings(tmp_path / "home")
    with pytest.raises(SparkNotRunningError, match="sandbox up"):
        spark_session(settings)


def test_doctor_names_a_port_taken_by_someone_else(tmp_path: Path) -> None:
    from sandbox.platform.doctor import run_checks

    settings = isolated_settings(tmp_path / "home")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.s3_port))
        squatter.listen()
        checks = {c.name: c for c in run_checks(settings)}
    bad = checks[f"port {settings.s3_port}"]
    assert bad.level == "fail"
    assert "s3 gateway" in bad.detail and f"pid {os.getpid()}" in bad.detail
    assert checks[f"port {settings.postgres_port}"].level == "ok"
    assert {"python", "memory", "disk", "java", "docker", "cpu architecture"} <= set(checks)


def test_reset_wipes_data(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "home")
    runner = CliRunner()
    env = _env(settings)
    assert runner.invoke(app, ["up"], env=env).exit_code == 0
    assert (settings.data_dir / "postgres" / "PG_VERSION").exists()
    result = runner.invoke(app, ["reset"], env=env, input="n\n")
    assert result.exit_code != 0  # declined: nothing happens
    assert (settings.data_dir / "postgres" / "PG_VERSION").exists()
    assert runner.invoke(app, ["reset", "--yes"], env=env).exit_code == 0
    assert not settings.data_dir.exists()
    assert {s["state"] for s in _status(runner, env)["services"]} == {"stopped"}


# -- a web page open in the user's browser (issue #30, item 1) ------------------------
# SeaweedFS's master, volume and filer HTTP ports answer 127.0.0.1, which any page can
# reach. They run with -disableHttp (no master or filer HTTP API) and a security.toml
# whose JWT keys only the weed process knows (the volume server's reads and writes
# need them): https://github.com/seaweedfs/seaweedfs/wiki/Security-Configuration


def _from_a_web_page(
    port: int, method: str, path: str, body: bytes = b""
) -> tuple[int, dict, bytes]:
    """A request as a page would send it: a foreign Origin and, after DNS rebinding, a
    foreign Host header, on the loopback port."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", f"rebind.attacker.example:{port}")
        conn.putheader("Origin", "http://attacker.example")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    except (ConnectionError, http.client.HTTPException) as exc:  # refused or cut: nothing done
        return 0, {}, str(exc).encode()
    finally:
        conn.close()


def test_a_web_page_reads_writes_and_deletes_nothing_through_seaweedfs(
    running_stack: EmbeddedStack,
) -> None:
    s = running_stack.settings
    s3 = s3_client(s)
    secret = b"the lake's data"
    s3.put_object(s.lake_bucket, "browser/secret.txt", io.BytesIO(secret), len(secret))
    filer, master, volume = s.seaweed_filer_port, s.seaweed_master_port, s.seaweed_volume_port
    attempts = {
        "filer read": (filer, "GET", f"/buckets/{s.lake_bucket}/browser/secret.txt", b""),
        "filer write": (filer, "PUT", f"/buckets/{s.lake_bucket}/browser/planted.txt", b"x"),
        "filer delete": (filer, "DELETE", f"/buckets/{s.lake_bucket}/browser/secret.txt", b""),
        "master collection delete": (master, "GET", f"/col/delete?collection={s.lake_bucket}", b""),
        "master assign": (master, "GET", "/dir/assign", b""),
        "master lookup": (master, "GET", "/dir/lookup?volumeId=1", b""),
        "master submit": (master, "POST", "/submit", b"x"),
        "volume write": (volume, "POST", "/1,01637037d6", b"planted"),
        "s3 unsigned read": (s.s3_port, "GET", f"/{s.lake_bucket}/browser/secret.txt", b""),
    }
    for what, (port, method, path, body) in attempts.items():
        status, headers, answer = _from_a_web_page(port, method, path, body)
        assert not 200 <= status < 300, f"{what}: {status} {answer[:200]!r}"
        assert secret not in answer, what
        allowed = headers.get("Access-Control-Allow-Origin", "")
        if port != volume:  # the volume server answers CORS *, with 401 for any data route
            assert allowed not in ("*", "http://attacker.example"), f"{what}: CORS {allowed}"
    # what the page tried left no trace
    assert s3.get_object(s.lake_bucket, "browser/secret.txt").read() == secret
    names = {o.object_name for o in s3.list_objects(s.lake_bucket, prefix="browser/")}
    assert names == {"browser/secret.txt"}
    assert (s.run_dir / "security.toml").stat().st_mode & 0o777 == 0o600
