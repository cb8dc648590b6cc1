import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";
import { type Sandbox, sandbox } from "./cli.js";
import { stopAll } from "./processes.js";

/** Two people's homes and a folder for a relay's data, made fresh for one test. */
export interface TwoHomes {
  readonly a: Sandbox;
  readonly b: Sandbox;
  /** An empty folder for `startRelay`. */
  readonly relayData: string;
}

/**
 * Gives every test of the file (or the `describe` it is called in) two
 * sandboxed homes and an empty relay data folder, handed to `use` before the
 * test; after it, every process the test started is stopped and all three
 * are removed. The usual start of a test of two homes syncing through a
 * relay on 127.0.0.1:
 *
 * ```ts
 * let a: Sandbox, b: Sandbox, relayData: string;
 * twoHomesEachTest((homes) => ({ a, b, relayData } = homes));
 * ```
 */
export function twoHomesEachTest(use: (homes: TwoHomes) => void): void {
  let homes: TwoHomes | undefined;
  beforeEach(async () => {
    homes = {
      a: await sandbox(),
      b: await sandbox(),
      relayData: await mkdtemp(join(tmpdir(), "canon-relay-")),
    };
    use(homes);
  });
  afterEach(async () => {
    await stopAll();
    if (homes === undefined) return;
    await homes.a.dispose();
    await homes.b.dispose();
    await rm(homes.relayData, { recursive: true, force: true });
    homes = undefined;
  });
}
