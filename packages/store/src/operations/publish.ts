import { realpath, stat } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import {
  CanonError,
  contentCid,
  decodeBundleManifest,
  encodeBundleManifest,
  MAX_CONTENT_BYTES,
  MAX_MESSAGE_LENGTH,
  parseCid,
  type Release,
  recordCid,
  type SpaceState,
  StandardName,
  sameBytes,
  signRecord,
  standardNameKey,
} from "@canon/core";
import { BlobCache } from "../caches/blob-cache.js";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { isBytes, mapField, type StandardDocument, writableMap } from "../space/documents.js";
import { standardDocumentOf } from "../space/standard-document.js";
import { type BundleFile, readBundleFolder } from "./bundle-folder.js";
import { readInputFile } from "./input-file.js";
import { MAINTAINER, requireRole } from "./require-role.js";
import { assertReadable, type SpaceChoice, type SpaceSession } from "./space-session.js";
import { withStandard } from "./standard-session.js";

/** What to publish. */
export interface PublishRequest extends SpaceChoice {
  readonly standard: string;
  /**
   * Path of the file whose exact bytes become the new version, or of a
   * folder published as one bundle (see {@link readBundleFolder}).
   */
  readonly file: string;
  readonly message?: string | undefined;
  /** CIDs of open corrections of the standard this version folds in (they close once every head has them). */
  readonly incorporates?: readonly string[] | undefined;
  /** Publish a new version even when the content equals the only head's ("unchanged" otherwise). */
  readonly force?: boolean | undefined;
}

/** A release just published, or the head that already had the same content. */
export interface Published {
  readonly standard: string;
  readonly version: number;
  /** Content CID of the published bytes (raw, sha2-256) or bundle (its manifest's dag-cbor CID). */
  readonly cid: string;
  /** CID of the signed release record. */
  readonly release: string;
  /**
   * True when nothing was written: the standard's only head already has this
   * content and no correction was incorporated, so `version`, `cid` and
   * `release` are that head's.
   */
  readonly unchanged: boolean;
  /** Release CIDs it follows (two or more when it resolves a fork). */
  readonly parents: readonly string[];
  /** Corrections it incorporates. */
  readonly incorporates: readonly string[];
}

/**
 * Publishes a file, or a folder as one bundle, as the next version of a
 * standard: the version after the highest current head, following every
 * head (so publishing after a fork resolves it). Content equal to the only
 * head's is not a new version unless `force` (see {@link Published.unchanged}).
 * Everything is read and checked before anything is written. Offline; the
 * release syncs at the next `canon sync`.
 * @throws CanonError `FILE_UNREADABLE`, `BAD_ARGUMENT` (name, size, what a folder holds), `NOT_A_MEMBER` when the signer is not a maintainer.
 */
export async function publish(
  home: CanonHome,
  signer: Signer,
  request: PublishRequest,
): Promise<Published> {
  const content = await readContent(home, request.file);
  return withStandard(home, request, request.standard, (session) =>
    appendRelease(session, signer, {
      standard: request.standard,
      ...content,
      message: request.message,
      incorporates: request.incorporates,
      force: request.force,
    }),
  );
}

/** A file's bytes, or a folder's manifest bytes and files. */
async function readContent(
  home: CanonHome,
  path: string,
): Promise<{ bytes: Uint8Array; files?: readonly BundleFile[] }> {
  if (!(await isFolder(path))) return { bytes: await readInputFile(path, MAX_CONTENT_BYTES) };
  await refuseFolderHoldingHome(home, path);
  const { manifest, files } = await readBundleFolder(path);
  return { bytes: encodeBundleManifest(manifest), files };
}

/**
 * A folder holding the Canon home (its identities' private keys) is never
 * published: `canon publish notes ~` would otherwise put them in a release.
 * @throws CanonError `BAD_ARGUMENT`.
 */
async function refuseFolderHoldingHome(home: CanonHome, folder: string): Promise<void> {
  const real = async (path: string) => realpath(path).catch(() => resolve(path));
  const inside = relative(await real(folder), await real(home.root));
  if (inside === "" || (!inside.startsWith("..") && !isAbsolute(inside)))
    throw new CanonError(
      "BAD_ARGUMENT",
      `${folder} holds the Canon home ${home.root} (private keys); publish a folder that does not`,
    );
}

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false; // readInputFile reports it
  }
}

/** A release to append: the exact bytes, not a file. */
export interface ReleaseContent {
  readonly standard: string;
  /** The content: a file's exact bytes, or a bundle's encoded manifest (then `files` holds its files). */
  readonly bytes: Uint8Array;
  /** For a bundle, every file its manifest (`bytes`) lists; absent for a single file. */
  readonly files?: readonly BundleFile[] | undefined;
  readonly message?: string | undefined;
  readonly incorporates?: readonly string[] | undefined;
  /** Publish even when the content equals the only head's. */
  readonly force?: boolean | undefined;
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
  { standard, bytes, files, message = "", incorporates = [], force = false }: ReleaseContent,
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
  const cid = (
    files === undefined ? await contentCid(bytes) : await bundleContentCid(bytes, files)
  ).toString();
  const heads = state.standards.get(standard)?.heads ?? [];
  const [only] = heads;
  if (heads.length === 1 && only?.record.contentCid === cid && incorporated.length === 0 && !force)
    return {
      standard,
      version: only.record.version,
      cid,
      release: only.cid,
      parents: only.record.parents,
      incorporates: [],
      unchanged: true,
    };
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
  // A bundle's files go beside its manifest, each under its raw CID (identical files are stored once).
  const held = mapField(handle.doc(), "contents");
  const newFiles = (files ?? []).filter(
    (file) => !(isBytes(held[file.cid]) && sameBytes(held[file.cid] as Uint8Array, file.bytes)),
  );
  handle.change((doc) => {
    writableMap<Uint8Array>(doc, "records")[signed.cid] = signed.bytes;
    const contents = writableMap<Uint8Array>(doc, "contents");
    contents[cid] = bytes;
    for (const file of newFiles) contents[file.cid] = file.bytes;
  });
  if (mapField(folded.space.doc(), "standards")[handle.documentId] === undefined) {
    folded.space.change((doc) => {
      writableMap<string>(doc, "standards")[handle.documentId] = standard;
    });
  }
  const blobs = new BlobCache(replica.home);
  await blobs.put(cid, bytes);
  for (const file of files ?? []) await blobs.put(file.cid, file.bytes);
  return {
    standard,
    version: release.version,
    cid,
    release: signed.cid,
    parents: release.parents,
    incorporates: incorporated,
    unchanged: false,
  };
}

/**
 * The content CID of a bundle about to be published: its manifest's CID,
 * once every file the manifest lists is among `files` with the same CID
 * and size, and each file's bytes hash to it.
 * @throws CanonError `BAD_ARGUMENT` when the manifest and the files disagree.
 */
async function bundleContentCid(manifestBytes: Uint8Array, files: readonly BundleFile[]) {
  const manifest = decodeBundleManifest(manifestBytes);
  const byPath = new Map(files.map((file) => [file.path, file]));
  for (const entry of manifest.files) {
    const file = byPath.get(entry.path);
    if (
      file === undefined ||
      file.size !== entry.size ||
      file.bytes.length !== entry.size ||
      (await contentCid(file.bytes)).toString() !== entry.cid
    )
      throw new CanonError(
        "BAD_ARGUMENT",
        `the bundle's file ${JSON.stringify(entry.path)} is missing or does not match its manifest`,
      );
  }
  return recordCid(manifestBytes);
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
