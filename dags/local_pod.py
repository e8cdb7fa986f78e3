"""LocalPodOperator: a task's command in a process of its own, the way a pod runs it.

Production runs each task with ``KubernetesPodOperator(image=..., cmds=..., arguments=...,
env_vars=...)``: a fresh container whose only state is its image and the environment it
is given. This operator takes the same four arguments and runs ``cmds + arguments`` as a
child process with only that environment (plus the image's PATH, HOME and locale, here
the worker's), streaming its output into the task log. A non-zero exit fails the task,
so Airflow's retries and downstream rules apply as they would to a pod.

Like a pod, the process does not outlive what runs it: on Linux it is killed when the
task's process dies, even by SIGKILL (``PR_SET_PDEATHSIG``; other systems have no such
call, and there a killed task leaves its child running). ``memory_limit`` (a Kubernetes
quantity, ``"4Gi"``) caps its address space (``RLIMIT_AS``: where a pod's cgroup would
OOM-kill it, an allocation past the limit fails and so does the task).

It lives in ``dags/`` (listed in ``.airflowignore``) so the DAG needs nothing but Airflow.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys

from airflow.exceptions import AirflowException

try:
    from airflow.sdk import BaseOperator
except ImportError:  # Airflow 2.x, as on MWAA's 2.x environments
    from airflow.models import BaseOperator

# What a container image would provide itself; everything else comes from env_vars.
IMAGE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
_UNITS = {
    "": 1,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
}

# Runs first in the child, then becomes the task's command: die with the parent (Linux),
# cap the address space, exec. argv: parent pid, limit in bytes (0: none), command...
_LAUNCH = """
import ctypes, os, resource, signal, sys
parent, limit, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        sys.exit(137)  # the parent died before the request took hold
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
os.execv(argv[0], argv)
"""


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity (``512Mi``, ``4Gi``, ``1G``) in bytes."""
    m = re.fullmatch(r"(\d+)([KMGT]i|[kMG])?", quantity.strip())
    if m is None:
        raise ValueError(f"memory_limit {quantity!r}: expected a quantity like '4Gi'")
    return int(m.group(1)) * _UNITS[m.group(2) or ""]


class LocalPodOperator(BaseOperator):
    template_fields = ("arguments", "env_vars")
    ui_color = "#dbe8f7"

    def __init__(
        self,
        *,
        image: str,
        cmds: list[str],
        arguments: list[str] | None = None,
        env_vars: dict[str, str] | None = None,
        memory_limit: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.image = image
        self.cmds = list(cmds)
        self.arguments = list(arguments or [])
        self.env_vars = dict(env_vars or {})
        self.memory_limit = memory_limit
        self._limit_bytes = quantity_bytes(memory_limit) if memory_limit else 0
        self._proc: subprocess.Popen | None = None

    def execute(self, context) -> None:
        env = {k: os.environ[k] for k in IMAGE_ENV if k in os.environ} | self.env_vars
        # A pod has no warm runner: the task runs in this process tree, under its limit.
        env["SANDBOX_WARM_RUNNER"] = "false"
        argv = [*self.cmds, *self.arguments]
        exe = shutil.which(argv[0], path=env.get("PATH"))
        if exe is None:
            raise AirflowException(f"{self.task_id}: command {argv[0]!r} is not on PATH")
        self.log.info("pod of image %s, run as a local process: %s", self.image, " ".join(argv))
        launch = [sys.executable, "-c", _LAUNCH, str(os.getpid()), str(self._limit_bytes)]
        self._proc = subprocess.Popen(
            [*launch, exe, *argv[1:]],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self.log.info("%s", line.rstrip())
        code = self._proc.wait()
        if code != 0:
            raise AirflowException(f"{self.task_id}: `{' '.join(argv)}` exited with code {code}")

    def on_kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
