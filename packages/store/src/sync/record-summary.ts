import * as A from "@automerge/automerge";
import { type DocHandle, decodeHeads, encodeHeads, type UrlHeads } from "@automerge/automerge-repo";
import type { SignedRecord, SpaceState } from "@canon/core";
import { mapField } from "../space/documents.js";

/** One record as `sync` and `watch` report it. */
export interface RecordSummary {
  readonly cid: string;
  readonly type: string;
  readonly author: string;
  readonly standard?: string;
  readonly version?: number;
  readonly contentCid?: string;
  readonly member?: string;
  readonly role?: string;
  /** A correction's text; a withdrawal's correction. */
  readonly text?: string;
  readonly correction?: string;
}

/** A record's summary: the fields a person needs to recognise it. */
export function summarize(signed: SignedRecord): RecordSummary {
  const { record } = signed;
  const base = { cid: signed.cid, type: record.type, author: record.author };
  switch (record.type) {
    case "canon/release":
      return {
        ...base,
        standard: record.standard,
        version: record.version,
        contentCid: record.contentCid,
      };
    case "canon/correction":
      return { ...base, standard: record.standard, text: record.text };
    case "canon/withdrawal":
      return { ...base, standard: record.standard, correction: record.correction };
    case "canon/membership":
      return { ...base, member: record.member, role: record.role };
    default:
      return base;
  }
}

/** Every accepted record of a folded space, by CID. */
export function acceptedRecords(state: SpaceState | undefined): Map<string, SignedRecord> {
  const records = new Map<string, SignedRecord>();
  if (state === undefined) return records;
  records.set(state.genesis.cid, state.genesis);
  for (const change of state.membershipChanges) records.set(change.cid, change);
  for (const standard of state.standards.values())
    for (const [cid, release] of standard.releases) records.set(cid, release);
  for (const [cid, correction] of state.corrections) records.set(cid, correction);
  for (const [cid, withdrawal] of state.withdrawals) records.set(cid, withdrawal);
  for (const [cid, provenance] of state.provenance) records.set(cid, provenance);
  return records;
}

/**
 * The CIDs a document's `records` map held at `heads` (as automerge-repo
 * encodes them): what a relay that reported those heads had of it. When
 * they are the document's own heads (a join, a sync that changed nothing),
 * the document is read as it is; otherwise through a view at those heads
 * (`Automerge.view`, not a handle's `view()`, which builds a new handle and
 * diffs the whole document against an empty one: 13 s over a fresh home's
 * 1,000 documents).
 */
export function recordCidsAt(handle: DocHandle<unknown>, heads: readonly string[]): string[] {
  const doc = handle.doc();
  const own = encodeHeads(A.getHeads(doc)).sort();
  const sorted = [...heads].sort();
  const same = own.length === sorted.length && own.every((head, index) => head === sorted[index]);
  const at = same ? doc : A.view(doc, decodeHeads(sorted as UrlHeads));
  return Object.keys(mapField(at, "records"));
}
