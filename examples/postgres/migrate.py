"""The migration: create the database named in DATABASE_URL if it does not exist, then its table.
Safe to run again (devstack runs it on every `devstack up`, before the API starts)."""

import os

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

URL = os.environ["DATABASE_URL"]


def main() -> None:
    name = str(conninfo_to_dict(URL)["dbname"])
    with psycopg.connect(make_conninfo(URL, dbname="postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")
    with psycopg.connect(URL) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, text text NOT NULL)")
        count = conn.execute("SELECT count(*) FROM notes").fetchone()
        print(f"migrated {name}: table notes ({count[0] if count else 0} rows)")


if __name__ == "__main__":
    main()
