"""Exit 0 if the PostgreSQL server at the given URL answers, 1 otherwise (used by `make test`)."""

from __future__ import annotations

import sys

import dj_database_url
import psycopg


def main(url: str) -> int:
    db = dj_database_url.parse(url)
    try:
        with psycopg.connect(
            host=db.get("HOST") or "127.0.0.1",
            port=db.get("PORT") or 5432,
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            dbname=db.get("NAME"),
            connect_timeout=5,
        ) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        print(f"PostgreSQL is not reachable: {exc}".strip(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
