import {
  CanonError,
  contentCid,
  MAX_CONTENT_BYTES,
  MAX_MESSAGE_LENGTH,
  parseCid,
  type Release,
  type SpaceState,
  StandardName,
  signRecord,
  standardNameKey,
} from "@canon/core";
import { BlobCache } from "../caches/blob-cache.js";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { mapField, type StandardDocument, writableMap } from "../space/documents.js";
import { standardDocumentOf } from "../space/standard-document.js";
import { readInputFile } from "./input-file.js";
import { MAINTAINER, requireRole } from "./require-role.js";
import { assertReadable, type SpaceChoice, type SpaceSession, withSpace } from "./space-session.js";

/** What to publish. */
export interface PublishRequest extends SpaceChoice {
  readonly standard: string;
  /** Path of the file whose exact bytes become the new version. */
  readonly file: string;
  readonly message?: string | undefined;
  /** CIDs of open corrections of the standard this version folds in (they close once every head has them). */
  readonly incorporates?: readonly string[] | undefined;
}

/** A release just published. */
export interface Published {
  readonly standard: string;
  readonly version: number;
  /** Content CID (raw, sha2-256) of the published bytes. */
  readonly cid: string;
  /** CID of the signed release record. */
  readonly release: string;
  /** Release CIDs it follows (two or more when it resolves a fork). */
  readonly parents: readonly string[];
  /** Corrections it incorporates. */
  readonly incorporates: readonly string[];
}

/**
 * Publishes a file as the next version of a standard: the version after the
 * highest current head, following every head (so publishing after a fork
 * resolves it). Offline; the release syncs at the next `canon sync`.
 * @throws CanonError `FILE_UNREADABLE`, `BAD_ARGUMENT` (name, size), `NOT_A_MEMBER` when the signer is not a maintainer.
 */
export async function publish(
  home: CanonHome,
  signer: Signer,
  request: PublishRequest,
): Promise<Published> {
  const bytes = await readInputFile(request.file, MAX_CONTENT_BYTES);
  return withSpace(
    home,
    request,
    (session) =>
      appendRelease(session, signer, {
        standard: request.standard,
        bytes,
        message: request.message,
        incorporates: request.incorporates,
      }),
    { writeBack: true },
  );
}

/** A release to append: the exact bytes, not a file. */
export interface ReleaseContent {
  readonly standard: string;
  readonly bytes: Uint8Array;
  readonly message?: string | undefined;
  readonly incorporates?: readonly string[] | undefined;
}

/**
 * Signs and appends the next release of a standard to an open, folded space
 * (the version after the highest head, following every head). Used by
 * `publish` and by a live space that stays connected to a relay.
 * @throws CanonError `BAD_ARGUMENT` (name, size, message, a correction already closed or of another standard),
 * `BAD_CID`, `UNKNOWN_CORRECTION`, `NOT_A_MEMBER`, `STORAGE_DAMAGED`.
 */
export async function appendRelease(
  { replica, chosen, folded, state }: SpaceSession,
  signer: Signer,
  { standard, bytes, message = "", incorporates = [] }: ReleaseContent,
): Promise<Published> {
  const name = StandardName.safeParse(standard);
  if (!name.success) {
    throw new CanonError(
      "BAD_ARGUMENT",
      `"${standard}" is not a valid standard name: ${name.error.issues[0]?.message}`,
    );
  }
  if (bytes.length > MAX_CONTENT_BYTES) {
    throw new CanonError(
      "BAD_ARGUMENT",
      `the content is ${bytes.length} bytes; a standard is at most ${MAX_CONTENT_BYTES} bytes`,
    );
  }
  if (message.length > MAX_MESSAGE_LENGTH) {
    throw new CanonError(
      "BAD_ARGUMENT",
      `a release message is at most ${MAX_MESSAGE_LENGTH} characters`,
    );
  }
  requireRole(signer, state, MAINTAINER, "publishing");
  assertReadable(folded, standard);
  refuseCaseCollision(state, standard);
  const incorporated = openCorrectionsNamed(state, standard, incorporates);
  const cid = (await contentCid(bytes)).toString();
  const heads = state.standards.get(standard)?.heads ?? [];
  const release: Release = {
    type: "canon/release",
    v: 1,
    space: chosen.address.genesis,
    standard,
    version: Math.max(0, ...heads.map((head) => head.record.version)) + 1,
    contentCid: cid,
    size: bytes.length,
    parents: heads.map((head) => head.cid).sort(),
    incorporates: incorporated,
    message,
    membership: [...state.membershipHeads],
    author: signer.keyPair.did,
    createdAt: new Date().toISOString(),
  };
  const signed = await signRecord(signer.keyPair, release);

  // Releases of a standard go to its document (created with the first release).
  const existing = standardDocumentOf(folded, state, standard);
  const handle =
    existing ??
    replica.create<StandardDocument>({
      canon: "standard",
      v: 1,
      name: standard,
      records: {},
      contents: {},
    });
  // A peer may have deleted or retyped the maps: they are recreated, never written through.
  handle.change((doc) => {
    writableMap<Uint8Array>(doc, "records")[signed.cid] = signed.bytes;
    writableMap<Uint8Array>(doc, "contents")[cid] = bytes;
  });
  if (mapField(folded.space.doc(), "standards")[handle.documentId] === undefined) {
    folded.space.change((doc) => {
      writableMap<string>(doc, "standards")[handle.documentId] = standard;
    });
  }
  await new BlobCache(replica.home).put(cid, bytes);
  return {
    standard,
    version: release.version,
    cid,
    release: signed.cid,
    parents: release.parents,
    incorporates: incorporated,
  };
}

/**
 * A new standard may not equal an existing one ignoring case: on a
 * case-insensitive file system (macOS, Windows) both would be written to the
 * same files. An existing standard keeps publishing under its own name.
 * @throws CanonError `BAD_ARGUMENT` naming the other standard.
 */
function refuseCaseCollision(state: SpaceState, standard: string): void {
  if (state.standards.has(standard)) return;
  const key = standardNameKey(standard);
  for (const other of state.standards.keys()) {
    if (standardNameKey(other) === key)
      throw new CanonError(
        "BAD_ARGUMENT",
        `"${standard}" differs from the existing standard "${other}" only in case; publish to "${other}" or pick another name (names that differ only in case collide on case-insensitive file systems)`,
      );
  }
}

/**
 * The corrections a new release may incorporate: each named once, each an
 * open correction of this standard (a closed one cannot be closed again).
 */
function openCorrectionsNamed(
  state: SpaceState,
  standard: string,
  named: readonly string[],
): string[] {
  const cids = [...new Set(named.map((cid) => parseCid(cid).toString()))].sort();
  if (cids.length > 1024)
    throw new CanonError("BAD_ARGUMENT", "a release incorporates at most 1024 corrections");
  const log = state.standards.get(standard)?.corrections;
  for (const cid of cids) {
    const status = log?.get(cid);
    if (status === undefined) {
      const other = state.corrections.get(cid);
      if (other !== undefined)
        throw new CanonError(
          "BAD_ARGUMENT",
          `${cid} is a correction of ${other.record.standard}, not of ${standard}`,
        );
      throw new CanonError(
        "UNKNOWN_CORRECTION",
        `no correction ${cid} in this space (\`canon corrections ${standard}\` lists the open ones; sync if it was made elsewhere)`,
      );
    }
    if (status.state !== "open")
      throw new CanonError(
        "BAD_ARGUMENT",
        `correction ${cid} is already ${status.state === "withdrawn" ? "withdrawn" : "incorporated"}; \`canon corrections ${standard}\` lists the open ones`,
      );
  }
  return cids;
}
