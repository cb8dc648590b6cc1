import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as core from "../../packages/core/dist/index.js";
import * as store from "../../packages/store/dist/index.js";
import { type Sandbox, sandbox } from "./cli.js";
import { type RelayProcess, startRelay } from "./processes.js";

/** An owner who published one standard and a reader who joined the space, through a real relay. */
export interface JoinedReader {
  readonly owner: Sandbox;
  readonly reader: Sandbox;
  readonly relay: RelayProcess;
  /** The relay's data folder. */
  readonly relayData: string;
  readonly spaceUrl: string;
  readonly spaceDocumentId: string;
  readonly genesis: string;
  /** The owner's key pair, to play a member whose own client misbehaves. */
  readonly ownerKeys: core.KeyPair;
  /** Removes both homes and the relay's data (stop the relay first: `stopAll`). */
  dispose(): Promise<void>;
}

/**
 * Starts a relay process, has an owner create the space `name` and publish
 * `style` holding `firstContent`, sync it, and a reader join it: the scene of
 * the tests that attack a reader through the shared documents.
 */
export async function joinedReader(name: string, firstContent: string): Promise<JoinedReader> {
  const owner = await sandbox();
  const reader = await sandbox();
  const relayData = await mkdtemp(join(tmpdir(), "canon-relay-"));
  const relay = await startRelay(relayData);
  owner.ok("init");
  const spaceUrl = owner.ok("space", "create", name, "--json").json<{ url: string }>().url;
  const [spaceDocumentId = "", genesis = ""] = spaceUrl.slice("canon:".length).split("/");
  owner.ok("publish", "style", await owner.file("s.md", firstContent));
  owner.ok("sync", "--relay", relay.url);
  reader.ok("init");
  reader.ok("space", "join", spaceUrl, "--relay", relay.url);
  const ownerKeys = (await store.loadIdentity(store.canonHome(owner.home))).keyPair;
  return {
    owner,
    reader,
    relay,
    relayData,
    spaceUrl,
    spaceDocumentId,
    genesis,
    ownerKeys,
    async dispose() {
      await owner.dispose();
      await reader.dispose();
      await rm(relayData, { recursive: true, force: true });
    },
  };
}

/** A rejection as `canon doctor --json` lists it. */
interface Doctor {
  readonly rejected: readonly { readonly cid: string; readonly code: string }[];
}

/** The problem code `canon doctor` gives the entry under `cid` in `home`, or undefined when it is not refused. */
export function rejectionCode(home: Sandbox, cid: string): string | undefined {
  return home
    .ok("doctor", "--json")
    .json<Doctor>()
    .rejected.find((rejection) => rejection.cid === cid)?.code;
}
