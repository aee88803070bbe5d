"""Helpers for Sluice transform plugins written in Python (componentize-py).

A plugin subclasses `Transformer` as its `WitWorld` and answers one record at a
time; the helpers do the world's bookkeeping:

    from sluice_transform import Transformer, ok, dropped, failed

    class WitWorld(Transformer):
        def setup(self, params):            # dict of the processor's params
            self.field = params.get("field", "level")

        def record(self, record):           # a Record: .data, .text, .json(), ...
            event = record.json()
            if event.get(self.field) == "DEBUG":
                return dropped()
            return ok(event, partition_keys={"level": event[self.field]})

- `ok(data, partition_keys)` takes bytes, a str (written as UTF-8) or any JSON
  value (written as compact JSON, ending with a newline when the record it answers
  did). Anything else fails that record with a reason, never delivers it empty.
- An exception raised by `record` fails that record only (`processing-failed`
  with the exception's type and message; the traceback goes to the daemon's log
  at debug level),
  instead of failing the whole batch.
- An exception raised by `setup` refuses the configuration with its message.

Build with this folder on the Python path:

    componentize-py -d WIT -w transformer componentize -p . -p SDK_DIR app -o plugin.wasm
"""

# componentize-py bundles only the modules imported while the component is built.
# The standard library imports some lazily (`datetime.strptime` imports `_strptime`
# at its first call), so they would be missing at run time: the modules plugins
# commonly need are imported here, once, at build time (they cost nothing per call).
import _strptime  # noqa: F401  (datetime.strptime, time.strptime)
import base64  # noqa: F401
import calendar  # noqa: F401
import csv  # noqa: F401
import datetime  # noqa: F401
import gzip  # noqa: F401
import hashlib  # noqa: F401
import hmac  # noqa: F401
import io  # noqa: F401
import ipaddress  # noqa: F401
import json
import re  # noqa: F401
import string  # noqa: F401
import struct  # noqa: F401
import time  # noqa: F401
import traceback
import urllib.parse  # noqa: F401
import uuid  # noqa: F401
import zlib  # noqa: F401

from componentize_py_types import Err
from wit_world import WitWorld, log
from wit_world.imports.types import (
    OkRecord,
    Outcome_Dropped,
    Outcome_Ok,
    Outcome_ProcessingFailed,
    RecordOut,
)

__all__ = ["Transformer", "Record", "ok", "dropped", "failed", "log", "Err"]

ERROR, WARN, INFO, DEBUG, TRACE = 0, 1, 2, 3, 4


class Record:
    """One record of a batch."""

    __slots__ = ("_in",)

    def __init__(self, record_in):
        self._in = record_in

    @property
    def id(self) -> int:
        return self._in.record_id

    @property
    def data(self) -> bytes:
        """The record's bytes, as received (or as the plugin before left them)."""
        return self._in.data

    @property
    def text(self) -> str:
        """The record's bytes as UTF-8 text (fails the record if they are not)."""
        return self._in.data.decode("utf-8")

    def json(self):
        """The record parsed as JSON (fails the record if it is not JSON)."""
        return json.loads(self._in.data)

    @property
    def arrival_ms(self) -> int:
        """When Sluice accepted the record, in epoch milliseconds: use it, not the
        clock, so that a replay after a crash gives the same output."""
        return self._in.approximate_arrival_ms

    @property
    def kinesis(self):
        """Where a record read from a Kinesis stream came from (`shard_id`,
        `partition_key`, `sequence_number`, ...), or None."""
        return self._in.kinesis


class _Ok:
    __slots__ = ("data", "partition_keys")

    def __init__(self, data, partition_keys):
        self.data = data
        self.partition_keys = partition_keys


class _Dropped:
    __slots__ = ()


class _Failed:
    __slots__ = ("reason",)

    def __init__(self, reason):
        self.reason = reason


_DROPPED = _Dropped()


def ok(data, partition_keys=None):
    """The record transformed into `data` (bytes, str, or a JSON value), with
    partition keys (a dict, or pairs) for `!{partitionKeyFromLambda:name}`."""
    return _Ok(data, partition_keys)


def dropped():
    """The record is dropped: it leaves no trace."""
    return _DROPPED


def failed(reason):
    """The record goes to the error output with its data as received and `reason`
    as its errorMessage."""
    return _Failed(str(reason))


def _bytes(data, original: bytes) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (dict, list, int, float, bool)) or data is None:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if original.endswith(b"\n"):
            text += "\n"
        return text.encode("utf-8")
    raise TypeError(f"ok() data must be bytes, str or a JSON value, not {type(data).__name__}")


def _keys(keys) -> list:
    if not keys:
        return []
    pairs = keys.items() if isinstance(keys, dict) else keys
    return [(str(name), str(value)) for name, value in pairs]


def _outcome(answer, original: bytes):
    if isinstance(answer, _Ok):
        return Outcome_Ok(OkRecord(_bytes(answer.data, original), _keys(answer.partition_keys)))
    if isinstance(answer, _Dropped):
        return Outcome_Dropped()
    if isinstance(answer, _Failed):
        return Outcome_ProcessingFailed(answer.reason)
    if answer is None:
        raise TypeError("record() returned nothing: return ok(...), dropped() or failed(...)")
    # A bare value is taken as ok(value).
    return Outcome_Ok(OkRecord(_bytes(answer, original), []))


# componentize-py makes a new `WitWorld` object for each call into the plugin: what
# `setup` sets on `self` is kept here between calls (the instance's globals).
_STATE: dict = {}


class Transformer(WitWorld):
    """The world's exports, answered one record at a time: subclass it as
    `WitWorld` and define `record` (and `setup` for params). Attributes set on
    `self` stay from call to call, as in one long-lived object."""

    def setup(self, params: dict) -> None:
        """Called once per instance with the processor's params; raise to refuse."""

    def record(self, record: Record):
        """Answers one record: ok(...), dropped() or failed(...)."""
        raise NotImplementedError("define record(self, record) in your WitWorld class")

    def init(self, params) -> None:
        try:
            self.setup(dict(params))
        except Err:
            raise
        except Exception as e:  # any error refuses the params, with its message
            raise Err(f"{type(e).__name__}: {e}") from e
        _STATE.update(self.__dict__)

    def transform(self, batch):
        self.__dict__.update(_STATE)
        out = []
        for record_in in batch:
            try:
                outcome = _outcome(self.record(Record(record_in)), record_in.data)
            except Exception as e:
                log(DEBUG, f"record {record_in.record_id} failed:\n{traceback.format_exc()}")
                outcome = Outcome_ProcessingFailed(f"{type(e).__name__}: {e}")
            out.append(RecordOut(record_in.record_id, outcome))
        _STATE.update(self.__dict__)
        return out
