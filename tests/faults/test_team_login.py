"""Guarantees of the team server's login (compose.yaml: `mlflow server --app-name basic-auth`): a request without
credentials is refused, `hardness` logs with MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, a wrong password is
one line with exit 3, a user with read access only cannot write, and no credential lands in any output, param, tag or
artifact."""

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.services import free_port, served

pytestmark = pytest.mark.slow
ADMIN, ADMIN_PASSWORD = "admin", "Adm1n-pass-for-tests"
READER, READER_PASSWORD = "reader", "Read3r-pass-for-tests"
TINY = ["--subset-size", "240", "--epochs", "30", "--seeds", "2", "--set", "inversion.warmup=5", "--set",
        "inversion.max_retries=0"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `mlflow server --app-name basic-auth` on 127.0.0.1 with its own user store; yields its URL."""
    folder = tmp_path_factory.mktemp("auth-server")
    (folder / "auth.ini").write_text(f"[mlflow]\ndefault_permission = NO_PERMISSIONS\n"
                                     f"database_uri = sqlite:///{folder / 'users.db'}\nadmin_username = {ADMIN}\n")
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth", "--backend-store-uri",
               f"sqlite:///{folder / 'mlflow.db'}", "--serve-artifacts", "--artifacts-destination",
               str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(folder / "auth.ini"), "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key", "MLFLOW_SERVER_ALLOWED_HOSTS": "127.0.0.1:*,localhost:*"}
    with served(command, f"http://127.0.0.1:{port}/health", env=env):
        yield f"http://127.0.0.1:{port}", folder


def request(url, user=None, password=None, data=None):
    """(status, body) of a GET (or a POST of `data` as JSON), with basic auth when `user` is given."""
    headers = {"Content-Type": "application/json"}
    if user:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    body = None if data is None else json.dumps(data).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def hardness(*args, user, password, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "hardness", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_team_server_lets_in_only_who_it_should(server, tmp_path, monkeypatch):
    url, folder = server
    search = f"{url}/api/2.0/mlflow/experiments/search"
    assert request(search, data={"max_results": 10})[0] == 401  # no credentials
    done = hardness("run", "--tracking-uri", url, "--experiment", "team", "--json", *TINY, user=ADMIN,
                    password=ADMIN_PASSWORD, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["parent_run_id"]

    wrong = hardness("run", "--tracking-uri", url, "--experiment", "team", *TINY, user=ADMIN, password="wrong",
                     cwd=tmp_path)
    errors = [line for line in wrong.stderr.splitlines() if line.startswith("error: ")]
    assert wrong.returncode == 3 and len(errors) == 1 and "Traceback" not in wrong.stderr, wrong.stderr
    assert "MLFLOW_TRACKING_USERNAME" in errors[0]

    # as docs/how-to/team-login.md tells an admin to: a user, then read access to one experiment
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    from mlflow import MlflowClient
    from mlflow.server import get_app_client

    users = get_app_client("basic-auth", tracking_uri=url)
    users.create_user(READER, READER_PASSWORD)
    experiment_id = MlflowClient(url).get_experiment_by_name("team").experiment_id
    users.grant_user_permission(READER, "experiment", experiment_id, "READ")
    assert request(f"{url}/api/2.0/mlflow/runs/get?run_id={run_id}", READER, READER_PASSWORD)[0] == 200
    write = request(f"{url}/api/2.0/mlflow/runs/set-tag", READER, READER_PASSWORD,
                    {"run_id": run_id, "key": "vandal", "value": "x"})
    assert write[0] == 403, write
    refused = hardness("run", "--tracking-uri", url, "--experiment", "team", *TINY, user=READER,
                       password=READER_PASSWORD, cwd=tmp_path)
    assert refused.returncode == 3 and "Traceback" not in refused.stderr, refused.stderr

    outputs = done.stdout + done.stderr + wrong.stdout + wrong.stderr + refused.stdout + refused.stderr
    stored = [folder / "mlflow.db", *(path for path in (folder / "artifacts").rglob("*") if path.is_file())]
    assert len(stored) > 3  # the store (params, tags) and the run's artifacts
    for secret in (ADMIN_PASSWORD, READER_PASSWORD):
        assert secret not in outputs
        assert all(secret.encode() not in path.read_bytes() for path in stored)
