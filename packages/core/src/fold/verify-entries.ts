import { sameBytes } from "../bytes.js";
import type { Rejection } from "../rejection.js";
import type { SignedRecord } from "../signed-record.js";
import { type RecordEntry, verifyRecord } from "../verify-record.js";
import { type FoldCache, PERMANENT_REFUSALS } from "./fold-cache.js";

/**
 * Verification runs in batches so WebCrypto can check many signatures at
 * once, on its worker threads. 256 measured better than 2,048 (less garbage
 * to collect at once) and than smaller batches.
 */
const VERIFY_BATCH = 256;

/** Entries split by their own checks: those that passed, by CID, and those that failed. */
export interface VerifiedEntries {
  readonly verified: Map<string, SignedRecord>;
  readonly invalid: Rejection[];
}

/**
 * Runs {@link verifyRecord} on every entry, in batches; an entry whose bytes
 * equal a record the cache says was verified before is taken as it is, and
 * one stored under a CID the cache says was refused for good is refused again.
 */
export async function verifyEntries(
  entries: Iterable<RecordEntry>,
  cache: FoldCache,
): Promise<VerifiedEntries> {
  const verified = new Map<string, SignedRecord>();
  const invalid: Rejection[] = [];
  let batch: RecordEntry[] = [];
  const drain = async () => {
    const checks = await Promise.all(batch.map((entry) => verifyRecord(entry)));
    for (const check of checks) {
      if (check.ok) verified.set(check.signed.cid, check.signed);
      else invalid.push(check.rejection);
    }
    batch = [];
  };
  for (const entry of entries) {
    const refused = cache.refusedRecord?.(entry.cid);
    if (
      refused !== undefined &&
      refused.cid === entry.cid &&
      PERMANENT_REFUSALS.has(refused.code)
    ) {
      invalid.push(refused);
      continue;
    }
    const known = cache.verifiedRecord?.(entry.cid);
    if (
      known !== undefined &&
      entry.bytes instanceof Uint8Array &&
      sameBytes(known.bytes, entry.bytes)
    ) {
      verified.set(known.cid, known);
      continue;
    }
    batch.push(entry);
    if (batch.length >= VERIFY_BATCH) await drain();
  }
  await drain();
  return { verified, invalid };
}
