"""Throwaway shared services for tests, as local processes on 127.0.0.1: a PostgreSQL cluster (Debian's `postgresql`
package), an MLflow tracking server on it with proxied artifacts, and optuna-dashboard. The same services as
compose.yaml, without containers."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD = "hardness", "s3cret-pw"
UNPRIVILEGED = "nobody"
"""PostgreSQL refuses to run as root: as root, the cluster runs as this user."""


def postgres_bin() -> Path | None:
    """The folder of initdb and pg_ctl (on PATH, or Debian's /usr/lib/postgresql/<version>/bin), else None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Postgres:
    port: int

    def url(self, database: str) -> str:
        """SQLAlchemy URL of `database` through psycopg 3, password included."""
        return f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", UNPRIVILEGED, "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres(databases: tuple[str, ...]) -> Iterator[Postgres]:
    """A fresh cluster in a temp dir, password-protected, listening on 127.0.0.1 only, holding `databases`."""
    import psycopg

    binaries = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="hardness-pg-"))
    data, password_file = folder / "data", folder / "password"
    password_file.write_text(PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(folder, UNPRIVILEGED)
        shutil.chown(password_file, UNPRIVILEGED)
    port = free_port()
    pg_ctl = _as_owner([str(binaries / "pg_ctl"), "-D", str(data)])
    try:
        subprocess.run(_as_owner([str(binaries / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(password_file),
                                  "--auth", "scram-sha-256", "--no-sync"]), check=True, capture_output=True)
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
        subprocess.run([*pg_ctl, "-o", options, "-l", str(folder / "log"), "-w", "-t", "60", "start"], check=True,
                       capture_output=True)
        with psycopg.connect(host="127.0.0.1", port=port, user=USER, password=PASSWORD, dbname="postgres",
                             autocommit=True) as connection:
            for database in databases:
                connection.execute(f"CREATE DATABASE {database}")
        yield Postgres(port)
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def wait_for_http(url: str, process: subprocess.Popen, timeout: float) -> None:
    """Poll `url` until it answers 200; fail with the process's output if it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:3]} exited {process.returncode}: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"{url} did not answer within {timeout} s: {process.stdout.read()}")


@contextmanager
def served(command: list[str], health: str, *, timeout: float = 120,
           env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """Run a server command until the block ends, once `health` answers."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    try:
        wait_for_http(health, process, timeout)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def mlflow_server(backend: str, artifacts: Path) -> Iterator[str]:
    """`mlflow server` on `backend` with proxied artifacts in `artifacts`, answering compose.yaml's default host
    names; yields its http:// URL."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend, "--serve-artifacts",
               "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    hosts = "mlflow,mlflow:*,localhost,localhost:*,127.0.0.1,127.0.0.1:*"
    with served(command, f"http://127.0.0.1:{port}/health", env={"MLFLOW_SERVER_ALLOWED_HOSTS": hosts}):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def optuna_dashboard(storage: str) -> Iterator[str]:
    """optuna-dashboard serving `storage`; yields its http:// URL."""
    port = free_port()
    script = Path(sys.executable).parent / "optuna-dashboard"  # the package has no __main__
    command = [str(script), storage, "--host", "127.0.0.1", "--port", str(port)]
    with served(command, f"http://127.0.0.1:{port}/api/studies", timeout=60):
        yield f"http://127.0.0.1:{port}"
