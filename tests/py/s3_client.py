"""Reads and administers a test bucket with boto3's real S3 client; prints JSON.

Usage: s3_client.py ENDPOINT ACCESS_KEY SECRET_KEY COMMAND ARGS...
  create-bucket BUCKET       create it (retried while the server starts)
  objects BUCKET             every object: key, size, ETag, ContentEncoding, body (base64)
  uploads BUCKET             multipart uploads still open
"""
import base64
import json
import sys
import time

import boto3
from botocore.config import Config


def main():
    endpoint, access_key, secret_key, command, *args = sys.argv[1:]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        # A server that has just (re)started answers InternalError for a while.
        config=Config(retries={"max_attempts": 10, "mode": "standard"}),
    )
    if command == "create-bucket":
        deadline = time.time() + 30
        while True:
            try:
                s3.create_bucket(Bucket=args[0])
                print(json.dumps({"created": args[0]}))
                return
            except Exception as e:  # the server may still be starting
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
    if command == "objects":
        out = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args[0]):
            for item in page.get("Contents", []):
                got = s3.get_object(Bucket=args[0], Key=item["Key"])
                out.append({
                    "key": item["Key"],
                    "size": item["Size"],
                    "etag": got["ETag"].strip('"'),
                    "content_encoding": got.get("ContentEncoding"),
                    "body": base64.b64encode(got["Body"].read()).decode(),
                })
        print(json.dumps(out))
        return
    if command == "uploads":
        got = s3.list_multipart_uploads(Bucket=args[0])
        print(json.dumps([u["Key"] for u in got.get("Uploads", [])]))
        return
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
