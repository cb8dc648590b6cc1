import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { canonHome } from "@canon/store";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "../../../test/helpers/cli.js";
import { type ContextChange, LiveContext } from "../src/live-context.js";

// The served context follows changes made by other processes (a `canon pull`, a `canon publish`
// in a shell) without reading anything again while nothing changes: real home, real CLI processes.

let a: Sandbox;
let live: LiveContext | undefined;
beforeEach(async () => {
  a = await sandbox();
});
afterEach(async () => {
  await live?.stop();
  live = undefined;
  await a.dispose();
});

/** Resolves once `predicate` holds, checking every 20 ms, or fails after `ms`. */
async function until(predicate: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(20);
  }
}

describe("LiveContext (what canon mcp serves, kept current)", () => {
  it("reads nothing again while nothing changes, and sees a canon pull and an edit made by other processes", async () => {
    a.ok("init");
    a.ok("space", "create", "solo");
    a.ok("publish", "style", await a.file("style.md", "Short sentences.\n"));
    const project = join(a.dir, "project");
    await mkdir(project);
    a.ok("add", "style", "--as", "file:STYLE.md", "--project", project);
    a.ok("pull", "--project", project);

    const changes: ContextChange[] = [];
    live = new LiveContext({
      home: canonHome(a.home),
      scope: { kind: "project", dir: project },
      log: () => {},
      onChange: (change) => changes.push(change),
    });
    await live.start();
    expect(live.current().standards.map((s) => s.rendered.version)).toEqual([1]);
    const first = live.readings;
    expect(first).toBe(1);
    // Polling read the whole context every second; now an unchanged project costs no reading.
    await sleep(3_500);
    expect(live.readings).toBe(first);
    expect(changes).toEqual([]);

    // Another process publishes v2 and pulls it: canon.lock changes, the new release is served.
    a.ok("publish", "style", await a.file("style-2.md", "Shorter sentences.\n"));
    a.ok("pull", "--project", project);
    await until(
      () => live?.current().standards[0]?.rendered.version === 2,
      "v2 served after the pull",
    );
    expect(changes.flatMap((change) => change.updated)).toContain("canon://style");

    // Quiet again: no more readings.
    await sleep(500);
    const settled = live.readings;
    await sleep(2_500);
    expect(live.readings).toBe(settled);

    // A written file edited by hand: the status (modified) changes, found by its identity.
    changes.length = 0;
    await writeFile(join(project, "STYLE.md"), "Edited by hand.\n");
    await until(
      () => changes.some((change) => change.updated.includes("canon://status")),
      "status updated after the edit",
    );
  });
});
