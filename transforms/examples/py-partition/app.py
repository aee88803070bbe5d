"""Lambda-style partition keys: each JSON record gets keys from its fields, which
fill `!{partitionKeyFromLambda:name}` in the stream's prefix.

params:
  fields      comma-separated JSON fields that become keys of the same name
  time_field  a field holding epoch milliseconds or an ISO-8601 date: gives the
              keys year, month, day and hour (UTC)
A record that is not JSON, or lacks a field, is failed with the reason.
"""
from datetime import datetime, timezone

from sluice_transform import INFO, Err, Transformer, failed, log, ok


def time_keys(value, field: str) -> dict:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        at = datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    elif isinstance(value, str):
        at = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    else:
        raise ValueError(f"{field} is neither epoch milliseconds nor an ISO-8601 date")
    return {"year": f"{at.year:04}", "month": f"{at.month:02}", "day": f"{at.day:02}", "hour": f"{at.hour:02}"}


class WitWorld(Transformer):
    def setup(self, params: dict) -> None:
        unknown = set(params) - {"fields", "time_field"}
        if unknown:
            raise Err(f"unknown param {sorted(unknown)[0]!r} (expected fields or time_field)")
        self.fields = [f.strip() for f in params.get("fields", "").split(",") if f.strip()]
        self.time_field = params.get("time_field")
        if not self.fields and self.time_field is None:
            raise Err("give `fields`, `time_field` or both")
        log(INFO, f"partitioning by {self.fields} and time field {self.time_field}")
        # stdout goes to the daemon's log too, one line per entry.
        print(f"py-partition ready: {len(self.fields)} field key(s)")

    def record(self, record):
        try:
            event = record.json()
        except ValueError as e:
            return failed(e)
        if not isinstance(event, dict):
            return failed("not a JSON object")
        keys = {}
        for field in self.fields:
            if field not in event:
                return failed(f"field {field!r} is missing")
            keys[field] = event[field]
        if self.time_field is not None:
            if self.time_field not in event:
                return failed(f"field {self.time_field!r} is missing")
            try:
                keys.update(time_keys(event[self.time_field], self.time_field))
            except ValueError as e:
                return failed(e)
        # The record goes on as it came; only its keys are new.
        return ok(record.data, keys)
