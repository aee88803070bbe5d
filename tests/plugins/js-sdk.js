// Test plugin: the SDK's answers for each kind of `data`, a record's exception,
// and, bypassing the SDK, a whole call's exception and a raw string as `data`
// (which the world's binding turns into no bytes).
//
// Records: "text", "json", "undefined", "throw"; a batch whose first record is
// "crash" throws from transform; one whose first record is "raw-string" answers
// a string as data without the SDK.
import { plugin, ok } from "./sluice_transform.js";

const sdk = plugin({
  record(record) {
    const text = record.text().trim();
    if (text === "text") return ok("text: é\n");
    if (text === "json") return ok({ a: 1, arrival: record.arrivalMs > 0 });
    if (text === "undefined") return ok(undefined);
    if (text === "throw") throw new Error("bad record");
    return ok(record.data);
  },
});

export const init = sdk.init;

export function transform(batch) {
  const first = new TextDecoder().decode(batch[0].data);
  if (first.startsWith("crash")) throw new Error("boom thrown by the plugin");
  if (first.startsWith("raw-string")) {
    return batch.map((r) => ({ recordId: r.recordId, outcome: { tag: "ok", val: { data: "a raw string", partitionKeys: [] } } }));
  }
  return sdk.transform(batch);
}
