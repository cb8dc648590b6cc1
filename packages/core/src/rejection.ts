import type { SignedRecord } from "./signed-record.js";

/**
 * Why an entry was left out of a space's state: a stable code, for scripts
 * and tests, beside the human `reason`. Each code belongs to one named check;
 * `docs/checks.md` maps them to the threat each answers.
 *
 * The entry on its own ({@link verifyRecord}):
 * - `not-bytes`: the value is not a byte string;
 * - `too-large`: over the record size limit;
 * - `cid-mismatch`: the bytes do not hash to the key they are stored under;
 * - `not-envelope`: not a `{ payload, sig }` DAG-CBOR envelope;
 * - `envelope-not-canonical` / `payload-not-canonical`: a second encoding of the same value;
 * - `payload-not-map`: the payload does not decode to a map;
 * - `schema`: the record does not match its type's schema;
 * - `bad-signature`: the signature does not verify against the author's key.
 *
 * The space's rules (the fold's checks):
 * - `other-genesis` / `other-space`: a record of another space (`belongs-to-space`);
 * - `author-role`: the author lacked the role at the membership point named (`author-role`);
 * - `unknown-membership-point`: names membership records not in the chain (`author-role`);
 * - `backdated`: the author later lost the role, and the change that took it had not seen this record (`not-backdated`);
 * - `previous-not-accepted`: `previous` names a record that is not an accepted record of the same author (`own-chain`);
 * - `parent-not-accepted` / `parent-other-standard` / `version-not-following`: a release's lineage (`release-lineage`);
 * - `withdraws-unknown` / `withdraw-not-allowed`: a withdrawal of something that is not an accepted correction of its standard, or by someone who is neither its author nor a maintainer (`withdraws`);
 * - `incorporates-unknown`: a release incorporates something that is not an accepted correction of its standard (`incorporates`);
 * - `content-missing` / `content-mismatch`: a release's content (or a file of its bundle) is not here, or no candidate matches its CID (`content-matches`);
 * - `bundle-malformed`: a bundle release's manifest matches its CID but is not a valid manifest (schema, grammar, limits, canonical encoding) (`content-matches`).
 */
export type RejectionCode =
  | "not-bytes"
  | "too-large"
  | "cid-mismatch"
  | "not-envelope"
  | "envelope-not-canonical"
  | "payload-not-map"
  | "payload-not-canonical"
  | "schema"
  | "bad-signature"
  | "other-genesis"
  | "other-space"
  | "author-role"
  | "unknown-membership-point"
  | "backdated"
  | "previous-not-accepted"
  | "withdraws-unknown"
  | "withdraw-not-allowed"
  | "parent-not-accepted"
  | "parent-other-standard"
  | "version-not-following"
  | "incorporates-unknown"
  | "content-missing"
  | "content-mismatch"
  | "bundle-malformed";

/** Every {@link RejectionCode}, in the order the checks run (for docs, and for parsing stored rejections). */
export const REJECTION_CODES: readonly RejectionCode[] = [
  "not-bytes",
  "too-large",
  "cid-mismatch",
  "not-envelope",
  "envelope-not-canonical",
  "payload-not-map",
  "payload-not-canonical",
  "schema",
  "bad-signature",
  "other-genesis",
  "other-space",
  "author-role",
  "unknown-membership-point",
  "backdated",
  "previous-not-accepted",
  "withdraws-unknown",
  "withdraw-not-allowed",
  "parent-not-accepted",
  "parent-other-standard",
  "version-not-following",
  "incorporates-unknown",
  "content-missing",
  "content-mismatch",
  "bundle-malformed",
];

/** What a check answers when a record fails it: the code and the human reason. */
export interface Refusal {
  readonly code: RejectionCode;
  readonly reason: string;
}

/** A record left out of the fold: which, why (code and reason), and, when they could be read, its type and author. */
export interface Rejection extends Refusal {
  readonly cid: string;
  readonly type?: string;
  readonly author?: string;
}

/** The rejection of a verified record (its type and author are known) for a refusal. */
export function rejectionOf(signed: SignedRecord, refusal: Refusal): Rejection {
  return {
    cid: signed.cid,
    code: refusal.code,
    reason: refusal.reason,
    type: signed.record.type,
    author: signed.record.author,
  };
}
