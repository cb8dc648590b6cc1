import { randomBytes } from "node:crypto";
import { CanonError, signRecord } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { readConfig, updateConfig } from "../home/config.js";
import type { Signer } from "../home/identities.js";
import { openReplica } from "../open-replica.js";
import type { SpaceDocument } from "../space/documents.js";
import { formatSpaceUrl } from "../space/space-url.js";
import { refreshCaches } from "./space-session.js";

/** A space just created. */
export interface CreatedSpace {
  readonly url: string;
  readonly name: string;
  readonly genesis: string;
}

/**
 * Creates a space: signs its genesis record (the signer becomes its first
 * maintainer), stores the space document, and makes it the home's default.
 * A name this home already knows is refused unless `force`, so `--space
 * <name>` keeps naming one space.
 * @throws CanonError `BAD_ARGUMENT` for an empty, overlong or (without `force`) taken name.
 */
export async function createSpace(
  home: CanonHome,
  signer: Signer,
  name: string,
  options: { readonly force?: boolean | undefined } = {},
): Promise<CreatedSpace> {
  if (name.trim().length === 0 || name.length > 200) {
    throw new CanonError("BAD_ARGUMENT", "a space name must be 1-200 characters");
  }
  const taken = Object.entries((await readConfig(home)).spaces).find(
    ([, entry]) => entry.name === name,
  );
  if (taken && !options.force) {
    throw new CanonError(
      "BAD_ARGUMENT",
      `this home already has a space named ${JSON.stringify(name)} (${taken[0]}); pick another name, or pass --force to create a second one`,
    );
  }
  const genesis = await signRecord(signer.keyPair, {
    type: "canon/space-genesis",
    v: 1,
    name,
    author: signer.keyPair.did,
    createdAt: new Date().toISOString(),
    nonce: randomBytes(16).toString("hex"),
  });
  const replica = await openReplica(home);
  let url: string;
  try {
    const handle = replica.create<SpaceDocument>({
      canon: "space",
      v: 1,
      records: { [genesis.cid]: genesis.bytes },
      standards: {},
    });
    url = formatSpaceUrl({ documentId: handle.documentId, genesis: genesis.cid });
    const folded = await replica.spaces.fold({
      documentId: handle.documentId,
      genesis: genesis.cid,
    });
    await replica.close();
    await refreshCaches(replica, folded);
  } finally {
    await replica.close();
  }
  await updateConfig(home, (config) => {
    config.spaces[url] = { name, genesis: genesis.cid, relays: [], lastSyncAt: null };
    config.defaultSpace = url;
  });
  return { url, name, genesis: genesis.cid };
}
