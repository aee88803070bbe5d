// Helpers for Sluice transform plugins written in JavaScript (componentize-js).
//
// A plugin answers one record at a time; the helpers do the world's bookkeeping:
//
//   import { plugin, ok, dropped, failed } from "./sluice_transform.js";
//
//   export const { init, transform } = plugin({
//     setup(params) { ... },                  // params as an object; throw to refuse
//     record(record) {                        // record.data, .text(), .json(), ...
//       const event = record.json();
//       if (event.level === "DEBUG") return dropped();
//       return ok(event, { level: event.level });
//     },
//   });
//
// - ok(data, partitionKeys) takes a Uint8Array, an ArrayBuffer, a string (written
//   as UTF-8) or any JSON value (written as compact JSON, ending with a newline
//   when the record it answers did). Anything else fails that record with a
//   reason: a record is never delivered empty by mistake (the world's own binding
//   turns a string given as `data` into no bytes at all).
// - An exception thrown by `record` fails that record only (`processing-failed`
//   with the exception's message; the stack goes to the daemon's log at debug), instead of
//   failing the whole batch.
// - An exception thrown by `setup` refuses the configuration with its message.
import log from "log";

export const ERROR = 0, WARN = 1, INFO = 2, DEBUG = 3, TRACE = 4;
export { log };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const NEWLINE = 10;

/** One record of a batch. */
class Record {
  constructor(input) {
    this.input = input;
  }
  get id() {
    return this.input.recordId;
  }
  /** The record's bytes, as received (or as the plugin before left them). */
  get data() {
    return this.input.data;
  }
  /** The record as UTF-8 text (throws, failing the record, if it is not). */
  text() {
    return decoder.decode(this.input.data);
  }
  /** The record parsed as JSON (throws, failing the record, if it is not). */
  json() {
    return JSON.parse(this.text());
  }
  /** When Sluice accepted the record, in epoch milliseconds (a Number): use it,
   *  not the clock, so that a replay after a crash gives the same output. */
  get arrivalMs() {
    return Number(this.input.approximateArrivalMs);
  }
  /** Where a record read from a Kinesis stream came from, or undefined. */
  get kinesis() {
    return this.input.kinesis;
  }
}

class Ok {
  constructor(data, partitionKeys) {
    this.data = data;
    this.partitionKeys = partitionKeys;
  }
}
class Failed {
  constructor(reason) {
    this.reason = reason;
  }
}
const DROPPED = Object.freeze({ dropped: true });

/** The record transformed into `data`, with partition keys (an object, or
 *  [name, value] pairs) for `!{partitionKeyFromLambda:name}`. */
export function ok(data, partitionKeys) {
  return new Ok(data, partitionKeys);
}

/** The record is dropped: it leaves no trace. */
export function dropped() {
  return DROPPED;
}

/** The record goes to the error output with its data as received and `reason`
 *  as its errorMessage. */
export function failed(reason) {
  return new Failed(String(reason));
}

function bytes(data, original) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === "string") return encoder.encode(data);
  const json = data === null || ["object", "number", "boolean"].includes(typeof data);
  if (!json) throw new TypeError(`ok() data must be bytes, a string or a JSON value, not ${typeof data}`);
  const newline = original.length > 0 && original[original.length - 1] === NEWLINE;
  return encoder.encode(JSON.stringify(data) + (newline ? "\n" : ""));
}

function keys(partitionKeys) {
  if (!partitionKeys) return [];
  const pairs = Array.isArray(partitionKeys) ? partitionKeys : Object.entries(partitionKeys);
  return pairs.map(([name, value]) => [String(name), String(value)]);
}

function outcome(answer, original) {
  if (answer instanceof Ok) {
    return { tag: "ok", val: { data: bytes(answer.data, original), partitionKeys: keys(answer.partitionKeys) } };
  }
  if (answer === DROPPED) return { tag: "dropped" };
  if (answer instanceof Failed) return { tag: "processing-failed", val: answer.reason };
  if (answer === undefined) throw new TypeError("record() returned nothing: return ok(...), dropped() or failed(...)");
  // A bare value is taken as ok(value).
  return { tag: "ok", val: { data: bytes(answer, original), partitionKeys: [] } };
}

function message(e) {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** The world's `init` and `transform` exports, from `setup(params)` and
 *  `record(record)`. */
export function plugin({ setup, record }) {
  if (typeof record !== "function") throw new TypeError("plugin() needs a record(record) function");
  return {
    init(params) {
      try {
        if (setup) setup(Object.fromEntries(params));
      } catch (e) {
        // The world's error string refuses the configuration.
        throw message(e);
      }
    },
    transform(batch) {
      return batch.map((input) => {
        let answer;
        try {
          answer = outcome(record(new Record(input)), input.data);
        } catch (e) {
          log(DEBUG, `record ${input.recordId} failed: ${message(e)}${e && e.stack ? "\n" + e.stack : ""}`);
          answer = { tag: "processing-failed", val: message(e) };
        }
        return { recordId: input.recordId, outcome: answer };
      });
    },
  };
}
