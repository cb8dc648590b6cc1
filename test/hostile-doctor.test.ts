import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as dagCbor from "@ipld/dag-cbor";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeAsAttacker } from "./helpers/attacker.js";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { startRelay, stopAll } from "./helpers/processes.js";

let owner: Sandbox;
let relayData: string;
beforeEach(async () => {
  owner = await sandbox();
  relayData = await mkdtemp(join(tmpdir(), "canon-relay-"));
});
afterEach(async () => {
  await stopAll();
  await owner.dispose();
  await rm(relayData, { recursive: true, force: true });
});

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must not reach the terminal.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe("canon doctor on a peer's junk", () => {
  it("prints a refused record's key, type and author with their control characters escaped", async () => {
    const relay = await startRelay(relayData);
    owner.ok("init");
    const { url } = owner.ok("space", "create", "attacked", "--json").json<{ url: string }>();
    const [spaceDocumentId = ""] = url.slice("canon:".length).split("/");
    owner.ok("sync", "--relay", relay.url);
    await writeAsAttacker(relay.url, spaceDocumentId, ({ space }) => {
      space.change((doc) => {
        doc.records["bafy\u001b[1A\u001b[2K\rall good"] = dagCbor.encode({
          payload: dagCbor.encode({ type: "\u001b]0;owned\u0007", author: "\u001b[31mred" }),
          sig: new Uint8Array(64),
        });
      });
    });
    owner.ok("sync");
    const doctor = owner.canon("doctor");
    expect(doctor.stdout).toContain("bafy\\x1b[1A\\x1b[2K\\rall good");
    expect(doctor.stdout).not.toMatch(CONTROL);
  });
});
