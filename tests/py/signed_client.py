"""boto3's Firehose client with the given keys, for Sluice's SigV4 checks; prints
the outcome as JSON ({"ok": ...} or {"error": {"code", "message", "status"}}).

Usage: signed_client.py ENDPOINT KEY SECRET SKEW_SECONDS COMMAND ARGS...
  put-record STREAM TEXT          PutRecord (gzip-free, signed body)
  put-batch STREAM PREFIX N       PutRecordBatch of N records "PREFIX-<i>\\n"
  list                            ListDeliveryStreams
  describe STREAM                 DescribeDeliveryStream
SKEW_SECONDS moves the clock the signature is made with. Retries are off, so each
error is the one the daemon sent.
"""
import datetime
import json
import sys

import boto3
import botocore.auth
from botocore.config import Config
from botocore.exceptions import ClientError


def main():
    endpoint, key, secret, skew, command, *args = sys.argv[1:]
    skewed = datetime.timedelta(seconds=int(skew))
    real = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *a, **k: real(*a, **k) + skewed
    client = boto3.client(
        "firehose",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    try:
        if command == "put-record":
            out = client.put_record(DeliveryStreamName=args[0], Record={"Data": args[1].encode()})
        elif command == "put-batch":
            stream, prefix, n = args[0], args[1], int(args[2])
            records = [{"Data": f"{prefix}-{i}\n".encode()} for i in range(n)]
            out = client.put_record_batch(DeliveryStreamName=stream, Records=records)
        elif command == "list":
            out = client.list_delivery_streams()
        elif command == "describe":
            out = client.describe_delivery_stream(DeliveryStreamName=args[0])
        else:
            raise SystemExit(f"unknown command {command}")
        out.pop("ResponseMetadata", None)
        print(json.dumps({"ok": out}, default=str))
    except ClientError as e:
        err = e.response["Error"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        print(json.dumps({"error": {"code": err["Code"], "message": err.get("Message", ""), "status": status}}))


if __name__ == "__main__":
    main()
