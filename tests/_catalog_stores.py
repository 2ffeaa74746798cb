"""Throwaway databases on the test PostgreSQL server (see conftest.py's postgres_cluster)."""

from __future__ import annotations

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
