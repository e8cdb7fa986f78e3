"""LocalPodOperator: a task's command in a process of its own, the way a pod runs it.

Production runs each task with ``KubernetesPodOperator(image=..., cmds=..., arguments=...,
env_vars=...)``: a fresh container whose only state is its image and the environment it
is given. This operator takes the same four arguments and runs ``cmds + arguments`` as a
child process with only that environment (plus the image's PATH, HOME and locale, here
the worker's), streaming its output into the task log. A non-zero exit fails the task,
so Airflow's retries and downstream rules apply as they would to a pod.

It lives in ``dags/`` (listed in ``.airflowignore``) so the DAG needs nothing but Airflow.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

from airflow.exceptions import AirflowException

try:
    from airflow.sdk import BaseOperator
except ImportError:  # Airflow 2.x, as on MWAA's 2.x environments
    from airflow.models import BaseOperator

# What a container image would provide itself; everything else comes from env_vars.
IMAGE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")


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
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.image = image
        self.cmds = list(cmds)
        self.arguments = list(arguments or [])
        self.env_vars = dict(env_vars or {})
        self._proc: subprocess.Popen | None = None

    def execute(self, context) -> None:
        env = {k: os.environ[k] for k in IMAGE_ENV if k in os.environ} | self.env_vars
        argv = [*self.cmds, *self.arguments]
        exe = shutil.which(argv[0], path=env.get("PATH"))
        if exe is None:
            raise AirflowException(f"{self.task_id}: command {argv[0]!r} is not on PATH")
        self.log.info("pod of image %s, run as a local process: %s", self.image, " ".join(argv))
        self._proc = subprocess.Popen(
            [exe, *argv[1:]],
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
