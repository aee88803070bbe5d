"""CloudWatch Logs to lines, as Firehose's CloudWatch Logs blueprint does: each
record is a gzipped subscription message; control messages are dropped, data
messages become their log events' messages, one per line.
"""
import gzip
import json

from wit_world import WitWorld
from wit_world.imports.types import (
    OkRecord,
    Outcome_Dropped,
    Outcome_Ok,
    Outcome_ProcessingFailed,
    RecordOut,
)


def lines(data: bytes):
    message = json.loads(gzip.decompress(data))
    kind = message.get("messageType")
    if kind == "CONTROL_MESSAGE":
        return Outcome_Dropped()
    if kind != "DATA_MESSAGE":
        return Outcome_ProcessingFailed(f"unknown messageType {kind!r}")
    text = "".join(event["message"] + "\n" for event in message["logEvents"])
    return Outcome_Ok(OkRecord(text.encode(), []))


class WitWorld(WitWorld):
    def init(self, params: list[tuple[str, str]]) -> None:
        pass

    def transform(self, batch):
        out = []
        for record in batch:
            try:
                outcome = lines(record.data)
            except (OSError, EOFError, ValueError, KeyError, TypeError) as e:
                outcome = Outcome_ProcessingFailed(f"not a CloudWatch Logs message: {e}")
            out.append(RecordOut(record.record_id, outcome))
        return out
