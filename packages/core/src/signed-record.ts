import * as dagCbor from "@ipld/dag-cbor";
import { recordCid } from "./cid.js";
import { CanonError } from "./error.js";
import { type KeyPair, sign } from "./keys.js";
import { CanonRecord } from "./records/record.js";

/** Largest encoded record Canon accepts. Bigger entries are rejected before decoding. */
export const MAX_RECORD_BYTES = 64 * 1024;

/** Domain separation: a Canon signature can never be replayed as a signature over anything else. */
const SIGNING_CONTEXT = new TextEncoder().encode("canon-record-v1\0");

/**
 * A record as it travels: `bytes` is the DAG-CBOR envelope `{ payload, sig }`
 * (payload = the DAG-CBOR record, sig = ed25519 by `record.author`), and `cid`
 * its CID. In a document it is stored as `records[cid] = bytes`.
 */
export interface SignedRecord<R extends CanonRecord = CanonRecord> {
  readonly cid: string;
  readonly bytes: Uint8Array;
  readonly record: R;
}

/** The exact bytes a signature covers: a fixed context string, then the encoded record. */
export function signingInput(payload: Uint8Array): Uint8Array {
  const message = new Uint8Array(SIGNING_CONTEXT.length + payload.length);
  message.set(SIGNING_CONTEXT, 0);
  message.set(payload, SIGNING_CONTEXT.length);
  return message;
}

/**
 * Validates, encodes and signs a record.
 * @throws CanonError `BAD_RECORD` when the record fails its schema, is too
 * large, or names an author other than the signing key.
 */
export async function signRecord<R extends CanonRecord>(
  keyPair: KeyPair,
  record: R,
): Promise<SignedRecord<R>> {
  const parsed = CanonRecord.safeParse(record);
  if (!parsed.success) {
    throw new CanonError(
      "BAD_RECORD",
      `invalid ${record.type} record: ${parsed.error.issues[0]?.message ?? "schema"}`,
    );
  }
  if (record.author !== keyPair.did) {
    throw new CanonError(
      "BAD_RECORD",
      `record author ${record.author} is not the signing key ${keyPair.did}`,
    );
  }
  const payload = dagCbor.encode(record);
  const sig = await sign(keyPair, signingInput(payload));
  const bytes = dagCbor.encode({ payload, sig });
  if (bytes.length > MAX_RECORD_BYTES) {
    throw new CanonError(
      "BAD_RECORD",
      `record is ${bytes.length} bytes; the limit is ${MAX_RECORD_BYTES}`,
    );
  }
  return { cid: (await recordCid(bytes)).toString(), bytes, record };
}
