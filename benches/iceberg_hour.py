"""Feeds two Iceberg delivery streams at a steady rate with boto3's Firehose client,
then prints what their tables hold, as JSON: snapshots, live data files, data files
on disk and metadata files. One stream expires snapshots, the other does not, so
the difference is the maintenance's.

Usage: iceberg_hour.py ENDPOINT SECONDS RATE CATALOG_DB WAREHOUSE_DIR STREAM=TABLE...
  RATE records/s to each stream (PutRecordBatch of up to 500 records, ~1 KiB JSON);
  after SECONDS the caller stops the daemon and runs `iceberg_hour.py --count ...`.
       iceberg_hour.py --count CATALOG_DB WAREHOUSE_DIR TABLE...
"""
import datetime
import json
import os
import sys
import time

import boto3
from botocore.config import Config


def feed(endpoint, seconds, rate, streams):
    client = boto3.client(
        "firehose", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 10, "mode": "standard"}))
    start = time.monotonic()
    sent = 0
    pad = "x" * 900
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= seconds:
            break
        due = int(min(elapsed + 1, seconds) * rate)
        while sent < due:
            n = min(500, due - sent)
            now = datetime.datetime.now(datetime.timezone.utc).isoformat()
            records = [{"Data": (json.dumps({"ts": now, "id": sent + i, "msg": pad}) + "\n").encode()}
                       for i in range(n)]
            for stream in streams:
                reply = client.put_record_batch(DeliveryStreamName=stream, Records=records)
                if reply["FailedPutCount"]:
                    raise SystemExit(f"{stream}: {reply['FailedPutCount']} records refused")
            sent += n
        time.sleep(max(0.0, start + elapsed + 1 - time.monotonic()))
    print(json.dumps({"records_per_stream": sent}))


def count(db, warehouse, tables):
    from pyiceberg.catalog.sql import SqlCatalog
    catalog = SqlCatalog("lake", uri=f"sqlite:///{db}", warehouse=f"file://{warehouse}")
    out = {}
    for name in tables:
        table = catalog.load_table(name)
        namespace, short = name.split(".")
        folder = os.path.join(warehouse, f"{namespace}.db" if os.path.isdir(os.path.join(warehouse, f"{namespace}.db")) else namespace, short)
        on_disk = {"data": 0, "metadata": 0}
        for kind in on_disk:
            for _, _, files in os.walk(os.path.join(folder, kind)):
                on_disk[kind] += len(files)
        out[name] = {
            "rows": table.scan().to_arrow().num_rows,
            "snapshots": len(table.metadata.snapshots),
            "live_data_files": len(list(table.scan().plan_files())),
            "data_files_on_disk": on_disk["data"],
            "metadata_files_on_disk": on_disk["metadata"],
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    if sys.argv[1] == "--count":
        count(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        endpoint, seconds, rate = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
        feed(endpoint, seconds, rate, [s.split("=")[0] for s in sys.argv[4:]])
