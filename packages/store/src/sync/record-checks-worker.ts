// The worker thread of `records-checked-ahead.ts`: runs core's `verifyRecord`
// on the record entries the main thread sends while it loads a bulk answer,
// and answers which passed, with each one's parsed record. Nothing here is
// trusted by the worker's caller beyond what `verifyRecord` itself decides:
// the same function, the same rules, in the same process.
import { parentPort } from "node:worker_threads";
import { verifyRecord } from "@canon/core";
import type { CheckedBatch, CheckRequest } from "./records-checked-ahead.js";

const port = parentPort;
if (port === null) throw new Error("record-checks-worker.js runs only as a worker thread");

port.on("message", async (request: CheckRequest) => {
  const all = new Uint8Array(request.buffer);
  const checks = await Promise.all(
    request.cids.map((cid, index) =>
      verifyRecord({
        cid,
        bytes: all.subarray(request.offsets[index], request.offsets[index + 1]),
      }),
    ),
  );
  const passed: [number, unknown][] = [];
  checks.forEach((check, index) => {
    if (check.ok) passed.push([index, check.signed.record]);
  });
  const answer: CheckedBatch = { batch: request.batch, passed };
  port.postMessage(answer);
});
// Loaded: from now on, waiting for its answers is worth it (`RecordsCheckedAhead.finish`).
port.postMessage("ready");
