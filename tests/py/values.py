"""Values read back by a reader, as JSON the tests compare: shared by the Parquet
and Iceberg readers (which run in different venvs, so this needs no pyarrow)."""

import base64
import datetime
import decimal
import math


def norm(value):
    """A reader's Python value as JSON: decimals as strings, times as ISO-8601 in
    UTC, bytes as base64, maps as objects."""
    if value is None:
        return None
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [norm(x) for x in value]
    return value
