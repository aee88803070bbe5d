"""Reads an Iceberg table with pyiceberg through the same SQLite SQL catalog Sluice
writes, and prints, as JSON, what it sees: the schema, the partition spec, the
snapshots (with their summaries), the data files and the rows (values normalised
as read_parquet.py does, sorted by their JSON text).

Usage: read_iceberg.py CATALOG CATALOG_NAME WAREHOUSE TABLE [S3_ENDPOINT KEY SECRET] [--missing-ok]
       (CATALOG is the SQLite file of a SQL catalog or the http:// URI of a REST
       catalog; TABLE is namespace.table; without the S3 arguments the warehouse
       is local; with --missing-ok a table that does not exist prints
       {"missing": true, "rows": []} instead of failing)
"""

import json
import sys

from pyiceberg.catalog import load_catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError

from read_parquet import norm_arrow


def main():
    missing_ok = sys.argv[-1] == "--missing-ok"
    if missing_ok:
        sys.argv.pop()
    db, name, warehouse, table_name = sys.argv[1:5]
    props = {"warehouse": warehouse}
    if len(sys.argv) > 5:
        endpoint, key, secret = sys.argv[5:8]
        props.update({
            "s3.endpoint": endpoint,
            "s3.access-key-id": key,
            "s3.secret-access-key": secret,
            "s3.region": "us-east-1",
            "s3.path-style-access": "true",
        })
    if db.startswith("http"):
        # No auth: pyiceberg would otherwise send "Authorization: Bearer None".
        catalog = load_catalog(name, **props, type="rest", uri=db, auth={"type": "noop"})
    else:
        catalog = SqlCatalog(name, **props, uri=f"sqlite:///{db}")
    try:
        table = catalog.load_table(table_name)
    except NoSuchTableError:
        if not missing_ok:
            raise
        print(json.dumps({"missing": True, "rows": []}))
        return
    arrow = table.scan().to_arrow()
    rows = []
    for row in arrow.to_pylist():
        rows.append({
            f.name: norm_arrow(row[f.name], f.type) for f in arrow.schema
        })
    rows.sort(key=lambda r: json.dumps(r, sort_keys=True))
    files = [task.file for task in table.scan().plan_files()]
    print(json.dumps({
        "metadata_location": table.metadata_location,
        "schema": [
            {"name": f.name, "type": str(f.field_type), "required": f.required}
            for f in table.schema().fields
        ],
        "partition_spec": [
            {"name": f.name, "transform": str(f.transform)}
            for f in table.spec().fields
        ],
        "snapshots": [
            {"id": s.snapshot_id, "summary": {
                "operation": s.summary.operation.value, **s.summary.additional_properties}}
            for s in table.metadata.snapshots
        ],
        "data_files": [
            {"path": f.file_path, "records": f.record_count,
             "partition": [str(v) for v in f.partition]}
            for f in files
        ],
        "rows": rows,
    }, default=str))


if __name__ == "__main__":
    main()
