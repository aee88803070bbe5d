"""Drives Sluice with boto3's real Firehose client and prints the outcome as JSON.

Usage: firehose_client.py [--key KEY SECRET] [--skew SECONDS] [--ca PEM] ENDPOINT COMMAND ARGS...
  --key KEY SECRET                    sign with these credentials (default: x / x)
  --skew SECONDS                      move the clock signatures are made with
  --ca PEM                            trust this CA for an https ENDPOINT
  put-record STREAM TEXT              PutRecord with TEXT's bytes
  put-batch STREAM PREFIX N           PutRecordBatch of N records "PREFIX-<i>\\n"
  put-sized STREAM COUNT SIZE         PutRecordBatch of COUNT records of SIZE bytes
  put-record-sized STREAM SIZE        PutRecord of one SIZE-byte record
  put-batch-b64 STREAM JSON           PutRecordBatch of the bytes of each base64 string in JSON
  list [JSON]                         ListDeliveryStreams with JSON params
  describe STREAM                     DescribeDeliveryStream
A client error prints {"error": {"code", "message", "status"}}; SDK retries are off
so that each error is seen as the daemon sent it.
"""
import base64
import datetime
import json
import sys

import boto3
import botocore.auth
from botocore.config import Config
from botocore.exceptions import ClientError


def main():
    argv = sys.argv[1:]
    key, secret, verify = "x", "x", None
    while argv[0].startswith("--"):
        if argv[0] == "--key":
            key, secret, argv = argv[1], argv[2], argv[3:]
        elif argv[0] == "--skew":
            skewed = datetime.timedelta(seconds=int(argv[1]))
            real = botocore.auth.get_current_datetime
            botocore.auth.get_current_datetime = lambda *a, **k: real(*a, **k) + skewed
            argv = argv[2:]
        elif argv[0] == "--ca":
            verify, argv = argv[1], argv[2:]
        else:
            raise SystemExit(f"unknown option {argv[0]}")
    endpoint, command, *args = argv
    client = boto3.client(
        "firehose",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        verify=verify,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    try:
        if command == "put-record":
            out = client.put_record(DeliveryStreamName=args[0], Record={"Data": args[1].encode()})
        elif command == "put-batch":
            stream, prefix, n = args[0], args[1], int(args[2])
            records = [{"Data": f"{prefix}-{i}\n".encode()} for i in range(n)]
            out = client.put_record_batch(DeliveryStreamName=stream, Records=records)
        elif command == "put-sized":
            stream, count, size = args[0], int(args[1]), int(args[2])
            records = [{"Data": b"x" * size} for _ in range(count)]
            out = client.put_record_batch(DeliveryStreamName=stream, Records=records)
        elif command == "put-record-sized":
            out = client.put_record(DeliveryStreamName=args[0], Record={"Data": b"y" * int(args[1])})
        elif command == "put-batch-b64":
            records = [{"Data": base64.b64decode(d)} for d in json.loads(args[1])]
            out = client.put_record_batch(DeliveryStreamName=args[0], Records=records)
        elif command == "list":
            out = client.list_delivery_streams(**(json.loads(args[0]) if args else {}))
        elif command == "describe":
            out = client.describe_delivery_stream(DeliveryStreamName=args[0])
        else:
            raise SystemExit(f"unknown command {command}")
    except ClientError as e:
        err = e.response["Error"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        print(json.dumps({"error": {"code": err.get("Code"), "message": err.get("Message"), "status": status}}))
        return
    out.pop("ResponseMetadata", None)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
