import * as dagCbor from "@ipld/dag-cbor";
import { sameBytes } from "./bytes.js";
import { recordCid } from "./cid.js";
import { verify } from "./keys.js";
import { CanonRecord } from "./records/record.js";
import type { Rejection, RejectionCode } from "./rejection.js";
import { MAX_RECORD_BYTES, type SignedRecord, signingInput } from "./signed-record.js";

/** An entry as found in a document: the key it was stored under and its value, both untrusted. */
export interface RecordEntry {
  readonly cid: string;
  readonly bytes: unknown;
}

/** The outcome of checking one entry on its own (no membership yet). */
export type RecordCheck = { ok: true; signed: SignedRecord } | { ok: false; rejection: Rejection };

/**
 * Checks one untrusted entry on its own, in order: size, CID matches bytes,
 * envelope shape, record schema, signature by the record's author. Never
 * throws: a failure is returned as a rejection with a reason.
 */
export async function verifyRecord(entry: RecordEntry): Promise<RecordCheck> {
  const reject = (
    code: RejectionCode,
    reason: string,
    record?: { type?: unknown; author?: unknown },
  ): RecordCheck => ({
    ok: false,
    rejection: {
      cid: String(entry.cid).slice(0, 200),
      code,
      reason,
      ...(typeof record?.type === "string" ? { type: record.type.slice(0, 64) } : {}),
      ...(typeof record?.author === "string" ? { author: record.author.slice(0, 100) } : {}),
    },
  });

  const bytes = entry.bytes;
  if (!(bytes instanceof Uint8Array)) return reject("not-bytes", "entry is not a byte string");
  if (bytes.length > MAX_RECORD_BYTES)
    return reject("too-large", `record is ${bytes.length} bytes; the limit is ${MAX_RECORD_BYTES}`);

  const cid = (await recordCid(bytes)).toString();
  if (cid !== entry.cid)
    return reject("cid-mismatch", `bytes do not match their CID (they hash to ${cid})`);

  const envelope = decode(bytes);
  if (!isEnvelope(envelope)) return reject("not-envelope", "not a Canon signed envelope");
  if (!sameBytes(dagCbor.encode(envelope), bytes))
    return reject("envelope-not-canonical", "envelope is not canonical DAG-CBOR");
  const payload = decode(envelope.payload);
  if (payload === undefined || payload === null || typeof payload !== "object") {
    return reject("payload-not-map", "payload is not a DAG-CBOR map");
  }
  const claimed = payload as { type?: unknown; author?: unknown };
  // One encoding per record: this also refuses strings that were not valid UTF-8.
  if (!sameBytes(dagCbor.encode(payload), envelope.payload))
    return reject("payload-not-canonical", "payload is not canonical DAG-CBOR", claimed);
  const parsed = CanonRecord.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join(".")}` : "";
    return reject("schema", `schema: ${issue?.message ?? "invalid"}${where}`, claimed);
  }
  const record = parsed.data;
  if (!(await verify(record.author, signingInput(envelope.payload), envelope.sig))) {
    return reject("bad-signature", "signature does not verify against the author's key", record);
  }
  return { ok: true, signed: { cid, bytes, record } };
}

function decode(bytes: Uint8Array): unknown {
  try {
    return dagCbor.decode(bytes);
  } catch {
    return undefined;
  }
}

function isEnvelope(value: unknown): value is { payload: Uint8Array; sig: Uint8Array } {
  if (value === null || typeof value !== "object") return false;
  const keys = Object.keys(value);
  const envelope = value as { payload?: unknown; sig?: unknown };
  return (
    keys.length === 2 &&
    envelope.payload instanceof Uint8Array &&
    envelope.sig instanceof Uint8Array
  );
}
