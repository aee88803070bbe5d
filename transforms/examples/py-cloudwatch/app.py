"""CloudWatch Logs to lines, as Firehose's CloudWatch Logs blueprint does: each
record is a gzipped subscription message; control messages are dropped, data
messages become their log events' messages, one per line.
"""
import gzip
import json

from sluice_transform import Transformer, dropped, failed, ok


class WitWorld(Transformer):
    def record(self, record):
        try:
            message = json.loads(gzip.decompress(record.data))
            kind = message.get("messageType")
            if kind == "CONTROL_MESSAGE":
                return dropped()
            if kind != "DATA_MESSAGE":
                return failed(f"unknown messageType {kind!r}")
            return ok("".join(event["message"] + "\n" for event in message["logEvents"]))
        except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as e:
            return failed(f"not a CloudWatch Logs message: {e}")
