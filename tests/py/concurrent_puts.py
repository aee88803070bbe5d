"""Many boto3 clients at once, each with the SDK's own retries, as producers under
load run: prints how many attempts were throttled and which records were
acknowledged.

Usage: concurrent_puts.py ENDPOINT STREAM CLIENTS RECORDS SIZE
Each client sends one PutRecordBatch of RECORDS records of SIZE bytes, each
`c<client>-i<index>-xxx...\\n`. Retries: botocore's standard mode, 10 attempts.
Prints {"throttled": N, "acknowledged": [records...], "failed": [errors...]}.
"""
import json
import sys
import threading

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, stream, clients, count, size = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
lock = threading.Lock()
throttled = 0
acknowledged = []
failed = []


def count_throttles(response=None, **_):
    """botocore calls this after every attempt, retried or not."""
    global throttled
    if response and response[1].get("Error", {}).get("Code") == "ServiceUnavailableException":
        with lock:
            throttled += 1


def client_run(c):
    client = boto3.client(
        "firehose",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 10, "mode": "standard"}, read_timeout=120),
    )
    client.meta.events.register("needs-retry.firehose.PutRecordBatch", count_throttles)
    records = []
    for i in range(count):
        head = f"c{c}-i{i}-"
        records.append(head + "x" * (size - len(head) - 1) + "\n")
    try:
        out = client.put_record_batch(
            DeliveryStreamName=stream, Records=[{"Data": r.encode()} for r in records]
        )
    except ClientError as e:
        with lock:
            failed.append(str(e))
        return
    with lock:
        if out["FailedPutCount"] == 0:
            acknowledged.extend(records)
        else:
            failed.append(json.dumps(out["RequestResponses"][:3]))


threads = [threading.Thread(target=client_run, args=(c,)) for c in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"throttled": throttled, "acknowledged": acknowledged, "failed": failed}))
