"""Drives a Kinesis-compatible server with boto3 for the Kinesis source tests.

  kinesis_client.py ENDPOINT create STREAM SHARDS
  kinesis_client.py ENDPOINT put STREAM FIRST COUNT [AGGREGATE]
      puts records b"k<i>\\n" for i in FIRST..FIRST+COUNT; with AGGREGATE > 1, packs
      them AGGREGATE at a time into KPL-aggregated Kinesis records
  kinesis_client.py ENDPOINT reshard STREAM TARGET
  kinesis_client.py ENDPOINT first-sequence STREAM
Prints JSON.
"""

import gzip
import hashlib
import json
import sys
import time

import boto3

KPL_MAGIC = b"\xf3\x89\x9a\xc2"


def client(endpoint):
    return boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKTEST",
        aws_secret_access_key="secret",
    )


def wait_active(k, stream):
    for _ in range(200):
        summary = k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        if summary["StreamStatus"] == "ACTIVE":
            return summary
        time.sleep(0.1)
    raise SystemExit(f"stream {stream} did not become ACTIVE")


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(tag, wire, payload):
    key = varint(tag << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def aggregate(records):
    """The KPL's format: magic, protobuf AggregatedRecord, md5 of the protobuf."""
    message = b""
    for i, (key, _) in enumerate(records):
        message += field(1, 2, key.encode())
    for i, (_, data) in enumerate(records):
        inner = field(1, 0, varint(i)) + field(3, 2, data)
        message += field(3, 2, inner)
    return KPL_MAGIC + message + hashlib.md5(message).digest()


def put(k, stream, first, count, per_record, pad=0):
    """Records k<i> (then `pad` bytes of p), a newline ending each."""
    entries = []
    users = [(f"pk{i}", f"k{i}{'p' * pad}\n".encode()) for i in range(first, first + count)]
    if per_record > 1:
        for at in range(0, len(users), per_record):
            chunk = users[at : at + per_record]
            entries.append({"Data": aggregate(chunk), "PartitionKey": chunk[0][0]})
    else:
        entries = [{"Data": d, "PartitionKey": key} for key, d in users]
    failed = 0
    for at in range(0, len(entries), 500):
        batch = entries[at : at + 500]
        for _ in range(50):
            answer = k.put_records(StreamName=stream, Records=batch)
            if answer["FailedRecordCount"] == 0:
                break
            batch = [e for e, r in zip(batch, answer["Records"]) if "ErrorCode" in r]
            time.sleep(0.2)
        else:
            failed += len(batch)
    return {"kinesis_records": len(entries), "failed": failed}


def put_cloudwatch(k, stream, first, count, per_message):
    """CloudWatch Logs subscription messages (gzip), as a subscription filter puts
    them in a Kinesis stream: events with messages k<i>, per_message a message."""
    entries = []
    for at in range(first, first + count, per_message):
        events = [
            {"id": str(i), "timestamp": 1700000000000 + i, "message": f"k{i}"}
            for i in range(at, min(at + per_message, first + count))
        ]
        message = {
            "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/app",
            "logStream": "s", "subscriptionFilters": ["to-kinesis"], "logEvents": events,
        }
        entries.append({"Data": gzip.compress(json.dumps(message).encode()), "PartitionKey": f"pk{at}"})
    for at in range(0, len(entries), 500):
        answer = k.put_records(StreamName=stream, Records=entries[at : at + 500])
        if answer["FailedRecordCount"]:
            return {"failed": answer["FailedRecordCount"]}
    return {"kinesis_records": len(entries), "failed": 0}


def main():
    endpoint, command, stream = sys.argv[1], sys.argv[2], sys.argv[3]
    k = client(endpoint)
    if command == "create":
        k.create_stream(StreamName=stream, ShardCount=int(sys.argv[4]))
        print(json.dumps({"shards": wait_active(k, stream)["OpenShardCount"]}))
    elif command == "put":
        per = int(sys.argv[6]) if len(sys.argv) > 6 else 1
        pad = int(sys.argv[7]) if len(sys.argv) > 7 else 0
        print(json.dumps(put(k, stream, int(sys.argv[4]), int(sys.argv[5]), per, pad)))
    elif command == "put-big":
        # One record of `size` bytes: `x`s and a newline.
        size = int(sys.argv[4])
        answer = k.put_record(StreamName=stream, Data=b"x" * (size - 1) + b"\n", PartitionKey="big")
        print(json.dumps({"shard": answer["ShardId"]}))
    elif command == "put-cloudwatch":
        print(json.dumps(put_cloudwatch(k, stream, int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))))
    elif command == "put-each":
        # One PutRecord per record {"i": n}, partition key pk<n>: prints where each landed.
        placed = []
        for i in range(int(sys.argv[4])):
            answer = k.put_record(StreamName=stream, Data=json.dumps({"i": i}).encode(), PartitionKey=f"pk{i}")
            placed.append({"i": i, "partition_key": f"pk{i}", "shard": answer["ShardId"], "sequence": answer["SequenceNumber"]})
        print(json.dumps(placed))
    elif command == "reshard":
        target = int(sys.argv[4])
        k.update_shard_count(StreamName=stream, TargetShardCount=target, ScalingType="UNIFORM_SCALING")
        # The stream may read ACTIVE before the update starts: wait for its shards.
        for _ in range(200):
            summary = wait_active(k, stream)
            if summary["OpenShardCount"] == target:
                break
            time.sleep(0.1)
        print(json.dumps({"shards": summary["OpenShardCount"]}))
    elif command == "first-sequence":
        shard = k.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
        it = k.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records = k.get_records(ShardIterator=it)["Records"]
        print(json.dumps({"shard": shard, "sequence": records[0]["SequenceNumber"]}))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
