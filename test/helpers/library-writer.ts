import * as core from "../../packages/core/dist/index.js";
import * as store from "../../packages/store/dist/index.js";

/** What {@link writeCorrection} wrote, and where. */
export interface Written {
  readonly signed: core.SignedRecord;
  /** The standard document it went into. */
  readonly documentId: string;
}

/**
 * Writes a correction by the home's owner into a standard's document through
 * the library, as a program that never refreshes Canon's caches would (or a
 * process killed before it did). `forge` may replace the signed record
 * before it is written.
 */
export async function writeCorrection(
  homeRoot: string,
  fields: { standard: string; text: string; createdAt?: string },
  forge: (signed: core.SignedRecord) => Promise<core.SignedRecord> | core.SignedRecord = (s) => s,
): Promise<Written> {
  const home = store.canonHome(homeRoot);
  const signer = await store.ensureIdentity(home);
  const chosen = await store.chooseSpace(home, {});
  const replica = await store.openReplica(home);
  try {
    const folded = await replica.spaces.fold(chosen.address);
    const target = [...folded.standards].find(
      ([, handle]) => (handle.doc() as { name?: string }).name === fields.standard,
    );
    if (target === undefined) throw new Error(`no document for standard ${fields.standard}`);
    const signed = await forge(
      await core.signRecord(signer.keyPair, {
        type: "canon/correction",
        v: 1,
        space: chosen.address.genesis,
        standard: fields.standard,
        text: fields.text,
        membership: [...(folded.fold.state as core.SpaceState).membershipHeads],
        author: signer.keyPair.did,
        createdAt: fields.createdAt ?? new Date().toISOString(),
      }),
    );
    replica.appendRecord(target[1], signed);
    return { signed, documentId: target[0] };
  } finally {
    await replica.close();
  }
}

/** One file of a bundle written through the library. */
export interface LibraryBundleFile {
  readonly path: string;
  readonly text: string;
  readonly executable?: boolean;
}

/**
 * Publishes a bundle by the home's owner through the library, bypassing the
 * folder reader (as a peer's own client could): any paths the manifest
 * grammar accepts, whatever `canon publish <folder>` would refuse.
 */
export async function publishBundleThroughLibrary(
  homeRoot: string,
  standard: string,
  files: readonly LibraryBundleFile[],
): Promise<void> {
  const home = store.canonHome(homeRoot);
  const signer = await store.ensureIdentity(home);
  const chosen = await store.chooseSpace(home, {});
  const replica = await store.openReplica(home);
  try {
    const folded = await replica.spaces.fold(chosen.address);
    const bundleFiles = await Promise.all(
      files.map(async (file) => {
        const bytes = new TextEncoder().encode(file.text);
        return {
          path: file.path,
          cid: (await core.contentCid(bytes)).toString(),
          size: bytes.length,
          executable: file.executable === true,
          bytes,
        };
      }),
    );
    const manifest = core.bundleManifestOf(bundleFiles);
    await store.appendRelease(
      { replica, chosen, folded, state: folded.fold.state as core.SpaceState },
      signer,
      { standard, bytes: core.encodeBundleManifest(manifest), files: bundleFiles },
    );
  } finally {
    await replica.close();
  }
}
