"""Lambda-style partition keys: each JSON record gets keys from its fields, which
fill `!{partitionKeyFromLambda:name}` in the stream's prefix.

params:
  fields      comma-separated JSON fields that become keys of the same name
  time_field  a field holding epoch milliseconds or an ISO-8601 date: gives the
              keys year, month, day and hour (UTC)
A record that is not JSON, or lacks a field, is failed with the reason.
"""
import json
from datetime import datetime, timezone

from componentize_py_types import Err
from wit_world import WitWorld, log
from wit_world.imports.types import OkRecord, Outcome_Ok, Outcome_ProcessingFailed, RecordOut

fields: list[str] = []
time_field: str | None = None


def time_keys(value) -> list[tuple[str, str]]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        at = datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    elif isinstance(value, str):
        at = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    else:
        raise ValueError(f"{time_field} is neither epoch milliseconds nor an ISO-8601 date")
    return [("year", f"{at.year:04}"), ("month", f"{at.month:02}"), ("day", f"{at.day:02}"), ("hour", f"{at.hour:02}")]


def partition(data: bytes) -> tuple[bytes, list[tuple[str, str]]]:
    record = json.loads(data)
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    keys = []
    for field in fields:
        if field not in record:
            raise ValueError(f"field {field!r} is missing")
        keys.append((field, str(record[field])))
    if time_field is not None:
        if time_field not in record:
            raise ValueError(f"field {time_field!r} is missing")
        keys.extend(time_keys(record[time_field]))
    return data, keys


class WitWorld(WitWorld):
    def init(self, params: list[tuple[str, str]]) -> None:
        global fields, time_field
        for key, value in params:
            if key == "fields":
                fields = [f.strip() for f in value.split(",") if f.strip()]
            elif key == "time_field":
                time_field = value
            else:
                raise Err(f"unknown param {key!r} (expected fields or time_field)")
        if not fields and time_field is None:
            raise Err("give `fields`, `time_field` or both")
        log(2, f"partitioning by {fields} and time field {time_field}")
        # stdout goes to the daemon's log too, one line per entry.
        print(f"py-partition ready: {len(fields)} field key(s)")

    def transform(self, batch):
        out = []
        for record in batch:
            try:
                data, keys = partition(record.data)
                outcome = Outcome_Ok(OkRecord(data, keys))
            except (ValueError, KeyError) as e:
                outcome = Outcome_ProcessingFailed(str(e))
            out.append(RecordOut(record.record_id, outcome))
        return out
