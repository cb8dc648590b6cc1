import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { CanonError, CidString, DsseEnvelope, entryOfDsse, type SignedRecord } from "@canon/core";
import { writeFileAtomic } from "../home/atomic-write.js";
import { readAtMost } from "../operations/input-file.js";

/**
 * A stamp as it sits beside an output, in `<output>.canon.json`: the signed
 * provenance record's envelope (base64 DAG-CBOR) and CID, which are all an
 * auditor trusts, and the record as JSON for people to read.
 */
interface StampFile {
  canon: "stamp";
  v: 1;
  cid: string;
  envelope: string;
  record: unknown;
}

/** Largest stamp file read: a record is at most 64 KiB, twice over in the file, plus base64. */
const MAX_STAMP_BYTES = 1024 * 1024;

/** The stamp file of an output. */
export function stampFileOf(output: string): string {
  return `${output}.canon.json`;
}

/** Writes a signed provenance record as a stamp file. */
export async function writeStampFile(path: string, signed: SignedRecord): Promise<void> {
  const file: StampFile = {
    canon: "stamp",
    v: 1,
    cid: signed.cid,
    envelope: Buffer.from(signed.bytes).toString("base64"),
    record: signed.record,
  };
  await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`);
}

/** Writes a stamp in its in-toto form: a DSSE envelope (JSON) carrying the Statement. */
export async function writeDsseStampFile(path: string, envelope: DsseEnvelope): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(envelope, null, 2)}\n`);
}

/**
 * The CID and envelope bytes a stamp file claims, unverified (the caller
 * checks them like any record from a peer). Either form: Canon's own
 * (`canon: "stamp"`), or a DSSE envelope carrying the in-toto Statement,
 * returned with the envelope so its signature is checked too.
 * @throws CanonError `FILE_UNREADABLE` when it cannot be read, `BAD_RECORD` when it is not a stamp file (or its claimed CID is not a CID).
 */
export async function readStampFile(path: string): Promise<{
  cid: string;
  bytes: Uint8Array;
  readable: unknown;
  dsse?: DsseEnvelope;
}> {
  let text: string;
  let handle: FileHandle | undefined;
  try {
    // Opened once without blocking (a FIFO is never waited on), then the opened file is checked and read.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const info = await handle.stat();
    if (!info.isFile()) throw new CanonError("FILE_UNREADABLE", `the stamp ${path} is not a file`);
    // Its size is not trusted (a link to /proc/self/pagemap says 0 bytes): the read is bounded too.
    const bytes =
      info.size > MAX_STAMP_BYTES
        ? undefined
        : await readAtMost(handle, MAX_STAMP_BYTES, info.size);
    if (bytes === undefined) {
      throw new CanonError(
        "BAD_RECORD",
        `${path} holds more than ${MAX_STAMP_BYTES} bytes; a Canon stamp is at most ${MAX_STAMP_BYTES}`,
      );
    }
    text = new TextDecoder().decode(bytes);
  } catch (error) {
    if (error instanceof CanonError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new CanonError(
      "FILE_UNREADABLE",
      `cannot read the stamp ${path}: ${code === "ENOENT" ? "no such file (stamp the output with `canon stamp`, or name the stamp with --stamp)" : (error as Error).message}`,
    );
  } finally {
    await handle?.close();
  }
  let file: Partial<StampFile>;
  try {
    file = JSON.parse(text) as Partial<StampFile>;
  } catch {
    throw new CanonError("BAD_RECORD", `${path} is not a Canon stamp (not JSON)`);
  }
  if (typeof file === "object" && file !== null && "payloadType" in file) {
    const parsed = DsseEnvelope.safeParse(file);
    if (!parsed.success)
      throw new CanonError(
        "BAD_RECORD",
        `${path} is not a DSSE envelope (payload, payloadType, signatures)`,
      );
    const entry = entryOfDsse(parsed.data);
    if ("error" in entry)
      throw new CanonError(
        "BAD_RECORD",
        `${path} is a DSSE envelope but not a Canon stamp: ${entry.error}`,
      );
    if (!CidString.safeParse(entry.cid).success)
      throw new CanonError(
        "BAD_RECORD",
        `${path} is a DSSE envelope but not a Canon stamp: its predicate's canonRecord.cid is not a CID`,
      );
    return { cid: entry.cid, bytes: entry.bytes, readable: undefined, dsse: parsed.data };
  }
  if (
    file?.canon !== "stamp" ||
    file.v !== 1 ||
    typeof file.cid !== "string" ||
    typeof file.envelope !== "string"
  ) {
    throw new CanonError("BAD_RECORD", `${path} is not a Canon stamp (no cid and envelope)`);
  }
  // The claimed CID is printed in the verdict: it must be one, not text of the file's choosing.
  if (!CidString.safeParse(file.cid).success)
    throw new CanonError("BAD_RECORD", `${path} is not a Canon stamp (its cid is not a CID)`);
  return {
    cid: file.cid,
    bytes: new Uint8Array(Buffer.from(file.envelope, "base64")),
    readable: file.record,
  };
}
