// A plugin built with componentize-js's defaults (it imports wasi:http): each
// batch starts a fetch of the `url` param and logs how it ended, then passes the
// records through. Used to test that such a build loads and that a request to a
// host the processor does not grant fails rather than hangs.
import log from "log";

let url = "";

export function init(params) {
  for (const [key, value] of params) {
    if (key === "url") url = value;
  }
}

export function transform(batch) {
  if (url) {
    try {
      fetch(url).then(
        (response) => log(2, `fetch answered ${response.status}`),
        (error) => log(1, `fetch failed: ${error}`),
      );
    } catch (error) {
      log(1, `fetch threw: ${error}`);
    }
  }
  return batch.map((record) => ({
    recordId: record.recordId,
    outcome: { tag: "ok", val: { data: record.data, partitionKeys: [] } },
  }));
}
