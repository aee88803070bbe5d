"""Reads an Iceberg table with DuckDB's Iceberg reader (iceberg_scan of the
table's metadata file) and prints its rows as JSON, sorted by their JSON text.
Runs with the venv of tests/setup/requirements-duckdb-iceberg.txt.

Usage: duckdb_iceberg.py METADATA_LOCATION [S3_ENDPOINT KEY SECRET]
"""

import json
import sys

import duckdb
import duckdb_extensions

from values import norm


def main():
    location = sys.argv[1]
    con = duckdb.connect()
    for extension in ("avro", "iceberg", "httpfs"):
        duckdb_extensions.import_extension(extension)
        con.execute(f"LOAD {extension}")
    if len(sys.argv) > 2:
        endpoint, key, secret = sys.argv[2:5]
        host = endpoint.split("://", 1)[1]
        con.execute(
            "CREATE SECRET s3 (TYPE s3, KEY_ID ?, SECRET ?, ENDPOINT ?, URL_STYLE 'path', "
            "USE_SSL false, REGION 'us-east-1')",
            [key, secret, host],
        )
    cursor = con.execute("SELECT * FROM iceberg_scan(?)", [location])
    names = [d[0] for d in cursor.description]
    rows = [{n: norm(v) for n, v in zip(names, row)} for row in cursor.fetchall()]
    rows.sort(key=lambda r: json.dumps(r, sort_keys=True))
    print(json.dumps(rows, default=str))


if __name__ == "__main__":
    main()
