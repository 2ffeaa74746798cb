"""Test stores: throwaway databases on the test PostgreSQL server (see conftest.py's
postgres_cluster), and a store made unreachable on either backend."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import contextmanager


@contextmanager
def new_database(server_url: str):
    """Yields the URL of a new database on the server of ``server_url``; drops it after."""
    import psycopg

    name = f"grlm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def make_unreachable(store_url: str):
    """Makes the store refuse this test's connections, as a server that is down does; returns
    the function that brings it back. SQLite: another connection holds the write lock (reads
    go on); PostgreSQL: the database refuses connections and its sessions are ended."""
    if store_url.startswith("sqlite"):
        path = store_url.removeprefix("sqlite:///")
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        return locker.close
    import psycopg

    server, database = store_url.rsplit("/", 1)
    admin = psycopg.connect(server + "/postgres", autocommit=True)
    admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
    admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,)
    )

    def back() -> None:
        admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
        admin.close()

    return back
