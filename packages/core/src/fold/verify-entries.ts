import { sameBytes } from "../bytes.js";
import type { Rejection } from "../rejection.js";
import type { SignedRecord } from "../signed-record.js";
import { type RecordCheck, type RecordEntry, verifyRecord } from "../verify-record.js";
import { type FoldCache, PERMANENT_REFUSALS } from "./fold-cache.js";

/**
 * Verification runs in batches so WebCrypto can check many signatures at
 * once, on its worker threads. 256 measured better than 2,048 (less garbage
 * to collect at once) and than smaller batches.
 */
const VERIFY_BATCH = 256;

/**
 * Batches under way at once. A batch's own checks (CID, encoding, schema)
 * run on this thread, its signatures on WebCrypto's threads: with two under
 * way, this thread checks the next batch while the signatures of the one
 * before are verified, instead of waiting for them (~0.5 s of a 10,000-record
 * join on 2 cores).
 */
const BATCHES_IN_FLIGHT = 2;

/** Entries split by their own checks: those that passed, by CID, and those that failed. */
export interface VerifiedEntries {
  readonly verified: Map<string, SignedRecord>;
  readonly invalid: Rejection[];
}

/**
 * Runs {@link verifyRecord} on every entry, in batches, two under way at
 * once ({@link BATCHES_IN_FLIGHT}); an entry whose bytes equal a record the
 * cache says was verified before is taken as it is, and one stored under a
 * CID the cache says was refused for good is refused again. Every other
 * entry is checked in full. Outcomes are taken in the order they always
 * were, whatever order the checks end in: for each batch, the entries the
 * cache decided while it filled, then the batch's own.
 */
export async function verifyEntries(
  entries: Iterable<RecordEntry>,
  cache: FoldCache,
): Promise<VerifiedEntries> {
  const verified = new Map<string, SignedRecord>();
  const invalid: Rejection[] = [];
  const take = (checks: readonly RecordCheck[]) => {
    for (const check of checks) {
      if (check.ok) verified.set(check.signed.cid, check.signed);
      else invalid.push(check.rejection);
    }
  };
  // The batch filling, what the cache decided meanwhile, and the batches under way, oldest first.
  let batch: RecordEntry[] = [];
  let decided: RecordCheck[] = [];
  const inFlight: { readonly decided: RecordCheck[]; readonly checks: Promise<RecordCheck[]> }[] =
    [];
  const start = () => {
    const checks = Promise.all(batch.map((entry) => verifyRecord(entry)));
    // Awaited below, in order; a failure meanwhile must not count as unhandled.
    checks.catch(() => {});
    inFlight.push({ decided, checks });
    batch = [];
    decided = [];
  };
  const takeOldest = async () => {
    const oldest = inFlight.shift();
    if (oldest === undefined) return;
    take(oldest.decided);
    take(await oldest.checks);
  };
  for (const entry of entries) {
    const refused = cache.refusedRecord?.(entry.cid);
    if (
      refused !== undefined &&
      refused.cid === entry.cid &&
      PERMANENT_REFUSALS.has(refused.code)
    ) {
      decided.push({ ok: false, rejection: refused });
      continue;
    }
    const known = cache.verifiedRecord?.(entry.cid);
    if (
      known !== undefined &&
      entry.bytes instanceof Uint8Array &&
      sameBytes(known.bytes, entry.bytes)
    ) {
      decided.push({ ok: true, signed: known });
      continue;
    }
    batch.push(entry);
    if (batch.length < VERIFY_BATCH) continue;
    start();
    if (inFlight.length >= BATCHES_IN_FLIGHT) await takeOldest();
  }
  start();
  while (inFlight.length > 0) await takeOldest();
  return { verified, invalid };
}
