import { join } from "node:path";
import {
  PERMANENT_REFUSALS,
  REFUSAL_RULES_VERSION,
  type Rejection,
  type RejectionCode,
} from "@canon/core";
import { z } from "zod";
import type { CanonHome } from "../home/canon-home.js";
import { readChecksummedJson, writeChecksummedJson } from "./checksummed-json.js";

/**
 * Most refusals remembered per space. Past this, junk is checked again on
 * every fold as before (a record is at most 64 KiB, so a peer needs at least
 * 3 GiB of junk in the documents to get there).
 */
export const MAX_REFUSED_RECORDS = 50_000;

const TAG = "CNR1";

/** Longest reason kept with a refusal; a longer one is cut. */
const MAX_REASON_LENGTH = 500;

const Refused = z.object({
  cid: z.string().min(1).max(200),
  code: z.enum([...PERMANENT_REFUSALS] as [RejectionCode, ...RejectionCode[]]),
  reason: z.string().max(MAX_REASON_LENGTH),
  type: z.string().max(64).optional(),
  author: z.string().max(100).optional(),
});

const File = z.object({
  v: z.literal(1),
  /** {@link REFUSAL_RULES_VERSION} when written: verdicts under other rules are not used. */
  rules: z.literal(REFUSAL_RULES_VERSION),
  refused: z.array(Refused).max(MAX_REFUSED_RECORDS),
});

function pathOf(home: CanonHome, spaceDocumentId: string): string {
  return join(home.indexes, `${spaceDocumentId}.refused`);
}

/**
 * The entries of a space an earlier fold refused for good, by CID
 * (`$CANON_HOME/index/<space-document-id>.refused`, checksummed): only
 * rejections with a code of `PERMANENT_REFUSALS` (a verdict on the exact
 * bytes a CID names, which never changes), offered to later folds as
 * `FoldCache.refusedRecord` so that junk a peer wrote (bad signatures,
 * schema errors) is checked once per home, not on every fold. Empty when
 * there is none, or it is damaged or malformed (then every entry is checked
 * again, and the file rewritten), or written under other rules
 * ({@link REFUSAL_RULES_VERSION}): a cache, as trusted as the replica beside it.
 */
export async function readRefusedRecords(
  home: CanonHome,
  spaceDocumentId: string,
): Promise<Map<string, Rejection>> {
  const refused = new Map<string, Rejection>();
  // None yet, unreadable, damaged or malformed: everything is checked.
  const parsed = File.safeParse(await readChecksummedJson(pathOf(home, spaceDocumentId), TAG));
  if (!parsed.success) return refused;
  for (const { cid, code, reason, type, author } of parsed.data.refused)
    refused.set(cid, {
      cid,
      code,
      reason,
      ...(type === undefined ? {} : { type }),
      ...(author === undefined ? {} : { author }),
    });
  return refused;
}

/**
 * Writes the space's refusals ({@link readRefusedRecords}), those with a
 * permanent code, at most {@link MAX_REFUSED_RECORDS}, each reason cut to 500 characters. Atomic, not durable:
 * what a power cut leaves is refused by its checksum, or an older list,
 * true for the CIDs it names.
 */
export async function writeRefusedRecords(
  home: CanonHome,
  spaceDocumentId: string,
  refused: Iterable<Rejection>,
): Promise<void> {
  const kept: Rejection[] = [];
  for (const rejection of refused) {
    if (kept.length >= MAX_REFUSED_RECORDS) break;
    // A reason may quote what a peer wrote (a schema error names an unknown key of any
    // length): cut, so that such junk is still remembered rather than checked on every fold.
    const cut = { ...rejection, reason: rejection.reason.slice(0, MAX_REASON_LENGTH) };
    if (Refused.safeParse(cut).success) kept.push(cut);
  }
  await writeChecksummedJson(
    pathOf(home, spaceDocumentId),
    TAG,
    { v: 1, rules: REFUSAL_RULES_VERSION, refused: kept },
    { durable: false },
  );
}
