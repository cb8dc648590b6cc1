import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";
import { writeAsAttacker } from "./attacker.js";
import { type Sandbox, sandbox } from "./cli.js";
import { stopAll } from "./processes.js";

/**
 * The scene of the freshness tests (test/freshness*.test.ts): an owner who
 * shares a space through a relay on 127.0.0.1, a relay (or anyone who
 * writes to the documents) that withholds records, and a newcomer who joins.
 */
export interface FreshnessScene {
  /** The home that creates the space, publishes and signs checkpoints. */
  readonly owner: Sandbox;
  /** A second home, which joins the space (or is made a member). */
  readonly newcomer: Sandbox;
  /** The relay's data folder (`startRelay(scene.relayData)`). */
  readonly relayData: string;
}

/**
 * Makes a fresh {@link FreshnessScene} before each test of the calling file,
 * and after each stops every process started (relays, watches) and removes
 * the homes and the relay's data. The scene's fields are read inside a test.
 */
export function useFreshnessScene(): FreshnessScene {
  let current: FreshnessScene | undefined;
  beforeEach(async () => {
    current = {
      owner: await sandbox(),
      newcomer: await sandbox(),
      relayData: await mkdtemp(join(tmpdir(), "canon-relay-")),
    };
  });
  afterEach(async () => {
    await stopAll();
    if (current === undefined) return;
    await current.owner.dispose();
    await current.newcomer.dispose();
    await rm(current.relayData, { recursive: true, force: true });
    current = undefined;
  });
  const scene = () => {
    if (current === undefined) throw new Error("the freshness scene is made before each test");
    return current;
  };
  return {
    get owner() {
      return scene().owner;
    },
    get newcomer() {
      return scene().newcomer;
    },
    get relayData() {
      return scene().relayData;
    },
  };
}

/** `box` initialises its home and creates the space `name`; its URL. */
export function createSpace(box: Sandbox, name: string): string {
  box.ok("init");
  return box.ok("space", "create", name, "--json").json<{ url: string }>().url;
}

/** `box` initialises its home and joins the space at `url` through the relay. */
export function joinSpace(box: Sandbox, url: string, relayUrl: string): void {
  box.ok("init");
  box.ok("space", "join", url, "--relay", relayUrl);
}

/** The document id of a space URL. */
export function documentIdOf(url: string): string {
  return url.replace(/^canon:/, "").split("/")[0] as string;
}

/**
 * The relay withholds `cids` from newcomers: a bare peer deletes them from
 * every standard document of the space at `url`, as anyone who writes to the
 * documents can.
 */
export async function withholdFromStandards(
  relayUrl: string,
  url: string,
  cids: readonly string[],
): Promise<void> {
  await writeAsAttacker(relayUrl, documentIdOf(url), (raw) => {
    for (const handle of raw.standards.values())
      handle.change((doc) => {
        for (const cid of cids) delete doc.records[cid];
      });
  });
}
