// JSON enrich + redact: adds fields, masks secrets, records where each record came from.
//
// params:
//   add.<field> = value   sets <field> to value on every record
//   redact = "a,b.c"      replaces the values at these dotted paths with "[REDACTED]"
// A record that is not a JSON object is failed (it goes to the error output with its
// raw data). Output records are one JSON object per line.
import log from "log";

const decoder = new TextDecoder();
const encoder = new TextEncoder();
let additions = [];
let redactions = [];

export function init(params) {
  for (const [key, value] of params) {
    if (key.startsWith("add.")) {
      additions.push([key.slice(4), value]);
    } else if (key === "redact") {
      redactions = value.split(",").map((p) => p.trim().split(".")).filter((p) => p[0] !== "");
    } else {
      throw `unknown param "${key}" (expected add.<field> or redact)`;
    }
  }
  log(2, `enrich: ${additions.length} field(s) to add, ${redactions.length} path(s) to redact`);
}

function redact(object, path) {
  let node = object;
  for (const step of path.slice(0, -1)) {
    if (node === null || typeof node !== "object") return;
    node = node[step];
  }
  const last = path[path.length - 1];
  if (node !== null && typeof node === "object" && last in node) node[last] = "[REDACTED]";
}

export function transform(batch) {
  return batch.map((record) => {
    let object;
    try {
      object = JSON.parse(decoder.decode(record.data));
    } catch (e) {
      return { recordId: record.recordId, outcome: { tag: "processing-failed", val: `not JSON: ${e.message}` } };
    }
    if (object === null || typeof object !== "object" || Array.isArray(object)) {
      return { recordId: record.recordId, outcome: { tag: "processing-failed", val: "not a JSON object" } };
    }
    for (const [field, value] of additions) object[field] = value;
    for (const path of redactions) redact(object, path);
    object._arrival_ms = Number(record.approximateArrivalMs);
    if (record.kinesis) {
      object._kinesis = {
        shard_id: record.kinesis.shardId,
        partition_key: record.kinesis.partitionKey,
        sequence_number: record.kinesis.sequenceNumber,
      };
    }
    const data = encoder.encode(JSON.stringify(object) + "\n");
    return { recordId: record.recordId, outcome: { tag: "ok", val: { data, partitionKeys: [] } } };
  });
}
