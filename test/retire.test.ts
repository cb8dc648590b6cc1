import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";

let box: Sandbox;
beforeEach(async () => {
  box = await sandbox();
});
afterEach(async () => {
  await box.dispose();
});

interface Listing {
  standards: { standard: string; retired: boolean }[];
  retired: number;
}

describe("retiring a standard", () => {
  it("hides it from ls and default stamps; its log, pinned reads and old stamps still work; unretire brings it back", async () => {
    box.ok("init");
    box.ok("space", "create", "pub");
    box.ok("publish", "style", await box.file("style.md", "style\n"));
    const typo = box
      .ok("publish", "stlye", await box.file("typo.md", "typo\n"), "--json")
      .json<{ cid: string }>();
    const old = await box.file("old.md", "made with both\n");
    box.ok("stamp", old);

    box.ok("retire", "stlye", "-m", "a typo of style");
    expect(box.canon("retire", "stlye").status).toBe(2);
    const listing = box.ok("ls", "--json").json<Listing>();
    expect(listing.standards.map((s) => s.standard)).toEqual(["style"]);
    expect(listing.retired).toBe(1);
    expect(box.ok("ls").stdout).toMatch(/1 retired standard\(s\)/);
    expect(
      box
        .ok("ls", "--all", "--json")
        .json<Listing>()
        .standards.filter((s) => s.retired),
    ).toEqual([expect.objectContaining({ standard: "stlye" })]);

    const fresh = await box.file("new.md", "made after\n");
    const stamped = box.ok("stamp", fresh, "--json").json<{ context: { standard: string }[] }>();
    expect(stamped.context.map((c) => c.standard)).toEqual(["style"]);
    expect(box.ok("log", "stlye", "--json").json<{ releases: unknown[] }>().releases).toHaveLength(
      1,
    );
    expect(box.ok("show", `stlye@${typo.cid}`).stdout).toBe("typo\n");
    expect(box.ok("verify", old, "--json").json<{ verified: boolean }>().verified).toBe(true);

    // Only maintainers retire.
    const agent = box.ok("id", "new", "--name", "agent", "--json").json<{ did: string }>().did;
    box.ok("member", "add", agent, "--role", "contributor");
    expect(box.canon("unretire", "stlye", "--as", "agent").status).toBe(6);

    box.ok("unretire", "stlye");
    expect(
      box
        .ok("ls", "--json")
        .json<Listing>()
        .standards.map((s) => s.standard),
    ).toEqual(["stlye", "style"]);
    expect(box.canon("unretire", "stlye").status).toBe(2);
    expect(box.canon("retire", "nope").status).toBe(3);
  });
});
