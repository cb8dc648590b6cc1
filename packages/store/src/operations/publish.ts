import {
  CanonError,
  contentCid,
  MAX_CONTENT_BYTES,
  MAX_MESSAGE_LENGTH,
  type Release,
  StandardName,
  signRecord,
} from "@canon/core";
import { BlobCache } from "../caches/blob-cache.js";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import type { StandardDocument } from "../space/documents.js";
import { readInputFile } from "./input-file.js";
import { assertReadable, type SpaceChoice, type SpaceSession, withSpace } from "./space-session.js";

/** What to publish. */
export interface PublishRequest extends SpaceChoice {
  readonly standard: string;
  /** Path of the file whose exact bytes become the new version. */
  readonly file: string;
  readonly message?: string | undefined;
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
  return withSpace(home, request, (session) =>
    appendRelease(session, signer, { standard: request.standard, bytes, message: request.message }),
  );
}

/** A release to append: the exact bytes, not a file. */
export interface ReleaseContent {
  readonly standard: string;
  readonly bytes: Uint8Array;
  readonly message?: string | undefined;
}

/**
 * Signs and appends the next release of a standard to an open, folded space
 * (the version after the highest head, following every head). Used by
 * `publish` and by a live space that stays connected to a relay.
 * @throws CanonError `BAD_ARGUMENT` (name, size, message), `NOT_A_MEMBER`, `STORAGE_DAMAGED`.
 */
export async function appendRelease(
  { replica, chosen, folded, state }: SpaceSession,
  signer: Signer,
  { standard, bytes, message = "" }: ReleaseContent,
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
  const role = state.members.get(signer.keyPair.did);
  if (role !== "maintainer") {
    throw new CanonError(
      "NOT_A_MEMBER",
      `${signer.identity.name} (${signer.keyPair.did}) is ${role ?? "not a member"} of this space; only maintainers publish`,
    );
  }
  assertReadable(folded, standard);
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
    incorporates: [],
    message,
    membership: [...state.membershipHeads],
    author: signer.keyPair.did,
    createdAt: new Date().toISOString(),
  };
  const signed = await signRecord(signer.keyPair, release);

  // Releases of a standard go to its document; if concurrent creations made two, the smallest id.
  const existing = [...folded.standards.entries()].find(
    ([, handle]) => handle.doc().name === standard,
  );
  const handle =
    existing?.[1] ??
    replica.create<StandardDocument>({
      canon: "standard",
      v: 1,
      name: standard,
      records: {},
      contents: {},
    });
  handle.change((doc) => {
    doc.records[signed.cid] = signed.bytes;
    doc.contents[cid] = bytes;
  });
  if (existing === undefined) {
    folded.space.change((doc) => {
      doc.standards[handle.documentId] = standard;
    });
  }
  await new BlobCache(replica.home).put(cid, bytes);
  return { standard, version: release.version, cid, release: signed.cid, parents: release.parents };
}
