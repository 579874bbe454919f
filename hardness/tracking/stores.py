"""Is a tracking store usable? Checked before any run starts, so an unusable store is one line naming the path (or the
server) and the fix, exit 3 (EnvironmentProblem), instead of a traceback halfway through.

MLflow-free: a server is asked for its health page, a local SQLite store gets a trial write that is rolled back.
"""

from __future__ import annotations

import base64
import sqlite3
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from hardness.errors import FULL_DISK_SQLITE, EnvironmentProblem
from hardness.redaction import redact, redact_url


def check_reachable(uri: str) -> None:
    """For http(s) URIs, GET <uri>/health (3 s timeout; a user and password in the URI go as basic auth, as MLflow
    sends them); other stores are checked when first used."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    request = urllib.request.Request(f"{bare.rstrip('/')}/health")
    if parts.username is not None:
        token = base64.b64encode(f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=3):
            pass
    except (OSError, ValueError) as error:  # URLError, HTTPError and timeouts are all OSErrors
        raise EnvironmentProblem(f"tracking server {redact_url(uri)} is unreachable: {redact(str(error), uri)}; "
                                 f"start it or pass the right --tracking-uri") from None


def check_sqlite_store(db: Path) -> None:
    """Refuse a local SQLite store that cannot be used, naming the path and the fix: its folder cannot be created or
    written, or the database is read-only or corrupted. A trial write (rolled back) proves it writable."""
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EnvironmentProblem(f"cannot create the folder {db.parent} for the MLflow store ({error.strerror}): create "
                                 f"it by hand, or pass --tracking-uri sqlite:///<writable folder>/mlflow.db") from None
    try:
        connection = sqlite3.connect(db, timeout=60, isolation_level=None)
        try:
            version = int(connection.execute("PRAGMA user_version").fetchone()[0])
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(f"PRAGMA user_version = {version}")
            connection.execute("ROLLBACK")
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise EnvironmentProblem(describe_store_problem(db, getattr(error, "sqlite_errorname", ""), str(error))) from None


def describe_store_problem(db: Path, code: str, reason: str) -> str:
    """One line naming the unusable SQLite store `db` and the fix, from SQLite's error `code` (SQLITE_READONLY, ...)."""
    elsewhere = "or pass --tracking-uri sqlite:///<writable folder>/mlflow.db"
    if code in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return (f"the MLflow store {db} is corrupted ({reason}): restore it from a backup, or move it aside to start "
                f"a new store there")
    if code.startswith("SQLITE_READONLY"):
        return f"the MLflow store {db} is read-only ({reason}): make it writable (chmod u+w {db}), {elsewhere}"
    if code == "SQLITE_CANTOPEN":
        return (f"cannot write the MLflow store {db}: its folder {db.parent} is not writable ({reason}); make it "
                f"writable, {elsewhere}")
    if code in FULL_DISK_SQLITE:
        return f"no room left on the disk for the MLflow store {db} ({reason}): free some space, {elsewhere}"
    if code in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return f"the MLflow store {db} stayed locked by another process for a minute ({reason}); try again later"
    return f"the MLflow store {db} cannot be used ({reason}): check the file and its folder, {elsewhere}"
