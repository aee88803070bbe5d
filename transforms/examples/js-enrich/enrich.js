// JSON enrich + redact: adds fields, masks secrets, records where each record came from.
//
// params:
//   add.<field> = value   sets <field> to value on every record
//   redact = "a,b.c"      replaces the values at these dotted paths with "[REDACTED]"
// A record that is not a JSON object is failed (it goes to the error output with its
// raw data). Output records are one JSON object per line.
import { plugin, ok, failed, log, INFO } from "./sluice_transform.js";

let additions = [];
let redactions = [];

function redact(object, path) {
  let node = object;
  for (const step of path.slice(0, -1)) {
    if (node === null || typeof node !== "object") return;
    node = node[step];
  }
  const last = path[path.length - 1];
  if (node !== null && typeof node === "object" && last in node) node[last] = "[REDACTED]";
}

export const { init, transform } = plugin({
  setup(params) {
    for (const [key, value] of Object.entries(params)) {
      if (key.startsWith("add.")) {
        additions.push([key.slice(4), value]);
      } else if (key === "redact") {
        redactions = value.split(",").map((p) => p.trim().split(".")).filter((p) => p[0] !== "");
      } else {
        throw `unknown param "${key}" (expected add.<field> or redact)`;
      }
    }
    log(INFO, `enrich: ${additions.length} field(s) to add, ${redactions.length} path(s) to redact`);
  },

  record(record) {
    let object;
    try {
      object = record.json();
    } catch (e) {
      return failed(`not JSON: ${e.message}`);
    }
    if (object === null || typeof object !== "object" || Array.isArray(object)) {
      return failed("not a JSON object");
    }
    for (const [field, value] of additions) object[field] = value;
    for (const path of redactions) redact(object, path);
    object._arrival_ms = record.arrivalMs;
    if (record.kinesis) {
      object._kinesis = {
        shard_id: record.kinesis.shardId,
        partition_key: record.kinesis.partitionKey,
        sequence_number: record.kinesis.sequenceNumber,
      };
    }
    return ok(JSON.stringify(object) + "\n");
  },
});
