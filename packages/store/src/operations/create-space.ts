import { randomBytes } from "node:crypto";
import { CanonError, signRecord } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { updateConfig } from "../home/config.js";
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
 * @throws CanonError `BAD_ARGUMENT` for an empty or overlong name.
 */
export async function createSpace(
  home: CanonHome,
  signer: Signer,
  name: string,
): Promise<CreatedSpace> {
  if (name.trim().length === 0 || name.length > 200) {
    throw new CanonError("BAD_ARGUMENT", "a space name must be 1-200 characters");
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
