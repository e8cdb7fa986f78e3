"""The embedded stack: Postgres, S3 and Spark as supervised local processes.

``up`` is idempotent and repairs: a running service is left alone, a dead one is
restarted, a busy port stops everything before anything starts. ``down`` stops only
the processes this sandbox home recorded, by pid, with a deadline and escalation.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Literal

import psutil

import sandbox.platform.endpoints as endpoints
from sandbox.platform.errors import PortInUseError, ServiceStartError
from sandbox.platform.locks import task_lock
from sandbox.platform.ports import port_is_free
from sandbox.platform.progress import Progress, quiet
from sandbox.platform.services import (
    AirflowService,
    AwsEndpointService,
    EmbeddedService,
    PostgresService,
    RunnerService,
    SailService,
    SeaweedS3Service,
)
from sandbox.platform.services.process import Supervisor, tree
from sandbox.platform.settings import Settings

# How long an `up` or `down` waits for another one on the same home (Airflow's start
# alone may take three minutes).
STACK_LOCK_WAIT_S = 600.0

State = Literal["running", "stopped", "failed", "external"]


@dataclass
class ServiceStatus:
    name: str
    state: State
    endpoint: str
    pid: int | None
    log: str | None = None
    log_tail: list[str] = field(default_factory=list)
    rss_mb: float | None = None
    detail: str | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        if self.state != "failed":
            data.pop("log_tail")
        return data


class EmbeddedStack:
    """The services of the embedded profile, in start order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.supervisor = Supervisor(settings.run_dir, settings.logs_dir)
        core: list[EmbeddedService] = [
            PostgresService(settings),
            SeaweedS3Service(settings),
            SailService(settings),
        ]
        # A service named by a URL (SANDBOX_SPARK_URL, SANDBOX_S3_URL) is not started.
        self.services = [
            svc for svc in core if svc.name == "postgres" or not settings.external(svc.name)
        ]
        self.stoppable = core  # `down` stops one started before its URL was set too
        # Started on demand (`sandbox aws up`, `sandbox airflow up`), shown and stopped
        # with the rest.
        self.optional: list[EmbeddedService] = [
            RunnerService(settings),
            AwsEndpointService(settings),
            AirflowService(settings),
        ]

    def service(self, name: str) -> EmbeddedService:
        for svc in self.services + self.optional:
            if svc.name == name:
                return svc
        raise KeyError(name)

    # -- status ---------------------------------------------------------------

    def status(self) -> list[ServiceStatus]:
        started = [s for s in self.optional if self.supervisor.record(s.name) is not None]
        return [self._status(svc) for svc in self.services + started] + external_status(
            self.settings
        )

    def _status(self, svc: EmbeddedService) -> ServiceStatus:
        rec = self.supervisor.record(svc.name)
        proc = self.supervisor.process(svc.name)
        if proc is not None:
            rss = sum(_rss(p) for p in tree(proc)) / 1e6
            return ServiceStatus(
                svc.name,
                "running",
                svc.endpoint(),
                proc.pid,
                rec.log if rec else None,
                rss_mb=round(rss, 1),
                detail=svc.detail(_environ(proc)),
            )
        if rec is not None:
            # A record without a live process: it died without `down`.
            return ServiceStatus(
                svc.name,
                "failed",
                svc.endpoint(),
                rec.pid,
                rec.log,
                self.supervisor.log_tail(svc.name),
            )
        return ServiceStatus(svc.name, "stopped", svc.endpoint(), None)

    # -- up -------------------------------------------------------------------

    def up(
        self, progress: Progress = quiet, *, on_ready: Callable[[str], None] | None = None
    ) -> list[ServiceStatus]:
        """Start every service that is not running; return the resulting status.

        With ``warm_runner`` on, the warm runner is started last (it listens at once and
        loads its libraries in the background). ``on_ready(name)`` is called as each
        started service becomes ready (Postgres is
        ready in a fraction of a second, S3 after about three: a caller can begin on the
        database meanwhile). Holds the home's stack lock: a second ``up`` (or ``down``)
        waits, then finds what the first started.
        """
        with self._stack_lock(progress):
            statuses = self._up(progress, on_ready)
            if self.settings.warm_runner and self.supervisor.process("runner") is None:
                # plain `sandbox run`s hand their work to it (sandbox.orchestrate.warm_runner);
                # a speed-up only: without it every run starts cold, and `up` goes on
                try:
                    self._start_optional("runner", progress)
                except (ServiceStartError, OSError) as exc:
                    progress(f"runner: not started ({exc}); plain runs start cold")
                statuses = self.status()
            return statuses

    @contextmanager
    def _stack_lock(self, progress: Progress) -> Iterator[None]:
        """One ``up``/``down`` at a time on this home (``<home>/locks/stack.lock``)."""
        with task_lock(
            self.settings.runtime_dir, "stack", wait_s=STACK_LOCK_WAIT_S, progress=progress
        ):
            yield

    def _up(
        self, progress: Progress, on_ready: Callable[[str], None] | None
    ) -> list[ServiceStatus]:
        for svc in self.services:  # a setting that only a restart applies (Sail's mode)
            proc = self.supervisor.process(svc.name)
            reason = svc.changed(_environ(proc)) if proc is not None else None
            if reason is not None:
                progress(f"{svc.name}: restarting ({reason})")
                self._stop(svc)
        todo = [svc for svc in self.services if self.supervisor.process(svc.name) is None]
        if not todo:
            progress("all services already running")
            return self.status()
        crashed = {svc.name for svc in todo if self.supervisor.record(svc.name) is not None}
        for svc in todo:
            if svc.name in crashed:
                # Its leader is gone: end what it forked, then let the kernel close the
                # listeners.
                self.supervisor.stop(svc.name)
                self._wait_ports_released(svc, timeout=5.0)
        self.check_ports(todo)
        started: list[EmbeddedService] = []
        try:
            for svc in todo:
                if svc.name in crashed:
                    progress(f"{svc.name}: restarting after a crash")
                svc.after_stop()
                svc.prepare()
                self.supervisor.spawn(svc.name, svc.argv(), env=svc.env(), user=svc.user())
                started.append(svc)
                progress(f"{svc.name}: starting")
            for svc in started:
                self._wait_ready(svc)
                svc.after_start()
                progress(f"{svc.name}: ready at {svc.endpoint()}")
                if on_ready is not None:
                    on_ready(svc.name)
        except BaseException:
            for svc in reversed(started):
                self._stop(svc)
            raise
        return self.status()

    def start_optional(self, name: str, progress: Progress = quiet) -> ServiceStatus:
        """Start an on-demand service (after the core ones); a no-op if it runs."""
        with self._stack_lock(progress):
            return self._start_optional(name, progress)

    def _start_optional(self, name: str, progress: Progress) -> ServiceStatus:
        svc = self.service(name)
        if self.supervisor.process(name) is None:
            if self.supervisor.record(name) is not None:  # crashed: end what it forked
                self.supervisor.stop(name)
            self.check_ports([svc])
            svc.prepare()
            self.supervisor.spawn(name, svc.argv(), env=svc.env(), user=svc.user())
            progress(f"{name}: starting")
            try:
                self._wait_ready(svc)
            except BaseException:
                self._stop(svc)
                raise
            svc.after_start()
            progress(f"{name}: ready at {svc.endpoint()}")
        return self._status(svc)

    def check_ports(self, services: Iterable[EmbeddedService]) -> None:
        """Raise PortInUseError naming each busy port, its service and who holds it."""
        problems = []
        for svc in services:
            for port, purpose in svc.ports().items():
                if not port_is_free(self.settings.host, port):
                    owner = self.describe_port_owner(port)
                    problems.append(f"port {port} ({purpose}) is already in use{owner}")
        if problems:
            raise PortInUseError(
                "cannot start: "
                + "; ".join(problems)
                + ". Free the port or choose another one with SANDBOX_<SERVICE>_PORT."
            )

    def _wait_ports_released(self, svc: EmbeddedService, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(port_is_free(self.settings.host, p) for p in svc.ports()):
                return
            time.sleep(0.1)

    def describe_port_owner(self, port: int) -> str:
        pid = port_owner_pid(port)
        if pid is None:
            return ""
        for svc in self.stoppable + self.optional:
            proc = self.supervisor.process(svc.name)
            if proc is not None and pid in {p.pid for p in tree(proc)}:
                return f" by this sandbox's own {svc.name} service (pid {pid})"
        try:
            name = psutil.Process(pid).name()
        except psutil.Error:
            name = "?"
        return f" by pid {pid} ({name})"

    def _wait_ready(self, svc: EmbeddedService) -> None:
        deadline = time.monotonic() + svc.start_timeout_s
        while time.monotonic() < deadline:
            if self.supervisor.process(svc.name) is None:
                tail = "\n".join(self.supervisor.log_tail(svc.name))
                raise ServiceStartError(f"{svc.name} exited during start-up. Log tail:\n{tail}")
            if svc.is_ready():
                return
            time.sleep(0.1)
        tail = "\n".join(self.supervisor.log_tail(svc.name))
        raise ServiceStartError(
            f"{svc.name} was not ready after {svc.start_timeout_s:.0f}s. Log tail:\n{tail}"
        )

    # -- down / reset -----------------------------------------------------------

    def down(self, progress: Progress = quiet) -> None:
        """Stop every process this home started, all at once, each with its deadline."""
        with self._stack_lock(progress):
            self._down(progress)

    def _down(self, progress: Progress) -> None:
        every = self.stoppable + self.optional
        with ThreadPoolExecutor(max_workers=len(every)) as pool:
            stopped = list(pool.map(self._stop, every))
        for svc, was_running in zip(every, stopped, strict=True):
            if was_running:
                progress(f"{svc.name}: stopped")

    def _stop(self, svc: EmbeddedService) -> bool:
        stopped = self.supervisor.stop(svc.name, sig=svc.stop_signal, timeout=svc.stop_timeout())
        if stopped:
            # A killed multi-threaded server is reported dead before the kernel has
            # closed all its listeners; `down` returns once the ports are free.
            self._wait_ports_released(svc, timeout=5.0)
        svc.after_stop()
        return stopped

    def reset(self, progress: Progress = quiet) -> None:
        """Stop everything and delete the data, logs and pid records (under the stack
        lock: an `up` meanwhile would start Postgres on a folder being deleted)."""
        with self._stack_lock(progress):
            self._down(progress)
            for folder in (self.settings.data_dir, self.settings.logs_dir, self.settings.run_dir):
                shutil.rmtree(folder, ignore_errors=True)
        progress(f"wiped {self.settings.runtime_dir}")


def port_owner_pid(port: int) -> int | None:
    """The pid listening on ``port``, if the OS lets us see it."""
    try:
        conns = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        return None
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return conn.pid
    return None


def external_status(settings: Settings) -> list[ServiceStatus]:
    """A row for each service named by a URL: the sandbox neither starts nor stops it."""
    rows = []
    if settings.external("spark"):
        shown = endpoints.shown_spark_url(settings.spark_remote)
        rows.append(ServiceStatus("spark", "external", shown, None, detail="SANDBOX_SPARK_URL"))
    if settings.external("s3"):
        rows.append(
            ServiceStatus("s3", "external", settings.s3_endpoint, None, detail="SANDBOX_S3_URL")
        )
    if settings.external("warehouse"):
        shown = endpoints.shown_libpq_url(settings.warehouse_dsn())
        rows.append(
            ServiceStatus("warehouse", "external", shown, None, detail="SANDBOX_WAREHOUSE_URL")
        )
    return rows


def _environ(proc: psutil.Process) -> dict[str, str]:
    try:
        return proc.environ()
    except psutil.Error:
        return {}


def _rss(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss
    except psutil.Error:
        return 0
