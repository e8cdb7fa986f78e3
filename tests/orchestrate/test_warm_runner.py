"""The warm runner (``sandbox.orchestrate.warm_runner``): a plain ``sandbox run`` handed
to a process with the libraries loaded must be the same run as a cold one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from sandbox.orchestrate import warm_client
from sandbox.platform.settings import PROJECT_ROOT
from tests.cli.conftest import private_env


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _wait_listening(path: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not _listening(path):
        assert time.monotonic() < deadline, f"no runner on {path}"
        time.sleep(0.05)


@dataclass
class Runner:
    sock: Path
    probe: Path  # a module the runner loaded (through a sitecustomize), to change
    env: dict[str, str]  # what a client must share with it (PYTHONPATH)
    log: Path
    pid: int


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    """A runner started as `sandbox up` starts it (``-P -m``)."""
    sock = Path(tempfile.mkdtemp(prefix="runner-")) / "runner.sock"  # short: AF_UNIX paths
    probe = tmp_path / "stale_probe.py"
    probe.write_text("VALUE = 1\n")
    (tmp_path / "sitecustomize.py").write_text("import stale_probe\n")
    env = {"PYTHONPATH": str(tmp_path)}
    log = tmp_path / "runner.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "sandbox.orchestrate.warm_runner", str(sock)],
            env=os.environ | env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_listening(sock)
        yield Runner(sock, probe, env, log, proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(sock.parent, ignore_errors=True)


def _client(runner: Runner, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from sandbox.orchestrate.warm_client import delegate
        code = delegate(Path({str(runner.sock)!r}), {args!r})
        sys.exit(99 if code is None else code)
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env | runner.env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_run_writes_to_the_clients_own_stdout_and_stderr_with_its_exit_code(
    runner, tmp_path: Path
) -> None:
    env = private_env(tmp_path / "home")
    helped = _client(runner, ["--help"], env)
    assert helped.returncode == 0, helped.stderr
    assert "Services:" in helped.stdout and helped.stderr == ""
    refused = _client(runner, ["run", "no_such_task"], env)
    assert refused.returncode == 1
    assert "no_such_task" in refused.stderr and "no_such_task" not in refused.stdout
    # `sandbox --debug run`: the flag reaches the child, which shows the traceback
    debug = _client(runner, ["--debug", "run", "no_such_task"], env)
    assert debug.returncode == 1 and "Traceback" in debug.stderr, debug.stderr
    assert "probe" not in runner.log.read_text()  # `is_ready`'s probe is not a bad request
    assert "bad request" not in runner.log.read_text()


def test_the_childs_settings_are_the_clients_environment(runner, tmp_path: Path) -> None:
    env = private_env(tmp_path / "elsewhere") | {"SANDBOX_NOT_A_SETTING": "1"}
    ran = _client(runner, ["status", "--json"], env)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["home"] == str(tmp_path / "elsewhere")
    # no warning: not for the child's marker, and not a second one for a variable the
    # client (the CLI) has already warned about
    assert ran.stderr == ""


def test_a_client_on_another_interpreter_is_told_to_run_cold(
    runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", runner.env["PYTHONPATH"])
    monkeypatch.setattr(sys, "executable", "/elsewhere/bin/python")
    assert warm_client.delegate(runner.sock, ["--help"]) is None
    monkeypatch.setattr(sys, "executable", sys.executable)
    monkeypatch.setenv("PYTHONPATH", "/another/path")  # Python would import differently
    assert warm_client.delegate(runner.sock, ["--help"]) is None


def test_a_changed_module_of_the_runner_restarts_it_and_that_run_is_cold(
    runner, tmp_path: Path
) -> None:
    env = private_env(tmp_path / "home")
    assert _client(runner, ["--help"], env).returncode == 0
    stamp = runner.probe.stat().st_mtime_ns + 5_000_000_000
    os.utime(runner.probe, ns=(stamp, stamp))  # "saved": the runner's copy is stale
    assert _client(runner, ["--help"], env).returncode == 99  # None: the caller runs cold
    _wait_listening(runner.sock)  # restarted (as `-m`, as started), with the new module
    assert _client(runner, ["--help"], env).returncode == 0
    assert runner.log.read_text().count("listening on") == 2


def test_the_runner_is_not_used_inside_itself_or_without_a_socket(tmp_path: Path) -> None:
    assert warm_client.delegate(tmp_path / "absent.sock", ["--help"]) is None
    os.environ[warm_client.CHILD_MARKER] = "1"
    try:
        assert warm_client.delegate(tmp_path / "absent.sock", ["--help"]) is None
    finally:
        del os.environ[warm_client.CHILD_MARKER]


def _job(sock: Path, script: Path, *args: str, env: dict[str, str]) -> subprocess.Popen:
    """The local endpoint's EMR job driver: the runner's client."""
    argv = [sys.executable, "-m", "sandbox.orchestrate.warm_client", str(sock)]
    return subprocess.Popen([*argv, str(script), *args], env=env, stdout=subprocess.PIPE, text=True)


JOB = (
    "import os, sys, pathlib\n"
    "print('job', sys.argv[1:], os.environ['EMR_SERVERLESS_JOB_RUN_ID'], flush=True)\n"
    "sys.exit(3)\n"
)


def test_a_job_script_runs_warm_with_its_arguments_environment_and_exit_code(
    runner, tmp_path: Path
) -> None:
    script = tmp_path / "lakehouse_job.py"
    script.write_text(JOB)
    env = os.environ | runner.env | {"EMR_SERVERLESS_JOB_RUN_ID": "run-1"}
    for where in (runner.sock, tmp_path / "no-runner.sock"):  # warm, then cold (exec) alike
        job = _job(where, script, "bronze", env=env)
        out, _ = job.communicate(timeout=60)
        assert job.returncode == 3, out
        assert "job ['bronze'] run-1" in out
    log = runner.log.read_text()
    assert log.count(f"runner: python {script} bronze") == 1  # the warm one, not the cold
    assert "exited 3" in log


def test_a_job_whose_driver_is_killed_is_interrupted_in_the_runner(runner, tmp_path: Path) -> None:
    """Cancelling a job run kills its driver process (the runner's client): the run
    itself, in the runner, gets SIGINT, and SIGKILL 10 s later if it still runs.
    (The run's own KeyboardInterrupt handler is not waited for: on a runner's first run
    the SIGINT was seen lost now and then, and the SIGKILL is what then ends it.)"""
    import psutil

    script = tmp_path / "long_job.py"
    script.write_text("import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)\n")
    job = _job(runner.sock, script, env=os.environ | runner.env)
    assert job.stdout is not None
    run_pid = int(job.stdout.readline())
    job.kill()
    job.wait(10)
    deadline = time.monotonic() + 20
    while psutil.pid_exists(run_pid) and psutil.Process(run_pid).status() != "zombie":
        assert time.monotonic() < deadline, "the run went on after its driver was killed"
        time.sleep(0.1)


def test_a_run_dies_with_its_runner_even_when_the_runner_is_sigkilled(
    runner, tmp_path: Path
) -> None:
    """kill -9 of the runner mid-run ends the run too, as kill -9 of a cold `sandbox
    run` ends its run: no orphan goes on holding the task's lock."""
    import psutil

    script = tmp_path / "orphan_job.py"
    script.write_text("import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(120)\n")
    job = _job(runner.sock, script, env=os.environ | runner.env)
    assert job.stdout is not None
    run_pid = int(job.stdout.readline())
    assert psutil.pid_exists(run_pid)
    os.kill(runner.pid, signal.SIGKILL)
    job.communicate(timeout=30)
    assert job.returncode == 1  # the client says the runner stopped during the run
    deadline = time.monotonic() + 10
    while psutil.pid_exists(run_pid) and psutil.Process(run_pid).status() != "zombie":
        assert time.monotonic() < deadline, "the run outlived its runner"
        time.sleep(0.1)


def test_a_run_killed_by_a_signal_exits_as_a_shell_reports_it(runner, tmp_path: Path) -> None:
    script = tmp_path / "killed_job.py"
    script.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    job = _job(runner.sock, script, env=os.environ | runner.env)
    job.communicate(timeout=60)
    assert job.returncode == 128 + 9  # the runner saw -9; the shell shows 137
    assert "exited -9" in runner.log.read_text()


@pytest.mark.matrix  # a stack, a seed and four pipeline runs: about a minute
def test_a_warm_run_gives_what_a_cold_run_gives(tmp_path: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    env = private_env(home)
    entry = Path(sys.executable).parent / "sandbox"

    def sandbox(*args: str, **extra: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [str(entry), *args],
            env=env | extra,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def marts() -> dict[str, list[tuple]]:
        url = f"postgresql://sandbox:sandbox@127.0.0.1:{env['SANDBOX_POSTGRES_PORT']}/warehouse"
        with psycopg.connect(url) as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "select table_name from information_schema.tables where table_schema = 'gold'"
                )
            ]
            return {
                n: sorted(conn.execute(f'select * from gold."{n}"').fetchall(), key=repr)
                for n in sorted(names)
            }

    try:
        up = sandbox("up")
        assert "runner" in up.stdout
        sandbox("seed", "--scale", "0.05")
        sandbox("run")
        warm = sandbox("run", "gold", "warehouse", "--force")
        warm_marts = marts()
        cold = sandbox("run", "gold", "warehouse", "--force", SANDBOX_WARM_RUNNER="false")
        assert marts() == warm_marts and len(warm_marts) >= 8
        for out in (warm.stdout, cold.stdout):
            assert "pipeline run" in out and "warehouse" in out
        log = (home / "logs" / "runner.log").read_text()
        assert "runner: sandbox run gold warehouse --force" in log  # it went warm
        assert log.count("sandbox run gold warehouse --force") == 1  # the cold one did not
    finally:
        subprocess.run([str(entry), "down"], env=env, cwd=PROJECT_ROOT, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_a_home_too_deep_for_a_unix_socket_gets_no_runner_and_says_why(tmp_path: Path) -> None:
    from sandbox.platform.errors import ServiceStartError
    from sandbox.platform.services.runner import RunnerService
    from tests.conftest import isolated_settings

    deep = tmp_path / ("d" * 60) / ("e" * 60)
    with pytest.raises(ServiceStartError, match="shorter SANDBOX_HOME"):
        RunnerService(isolated_settings(deep)).prepare()
