import { createHash } from "node:crypto";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";

let box: Sandbox;
beforeEach(async () => {
  box = await sandbox();
});
afterEach(async () => {
  await box.dispose();
});

/** An error is one line starting `canon:`, with no stack trace. */
function expectOneLineError(stderr: string, pattern: RegExp) {
  const lines = stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^canon: /);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

async function publishedSpace() {
  box.ok("init");
  box.ok("space", "create", "the publication");
  const v1 = box
    .ok(
      "publish",
      "editorial-style",
      await box.file("style.md", "# Style v1\n"),
      "-m",
      "first",
      "--json",
    )
    .json<{ cid: string; release: string }>();
  const v2 = box
    .ok("publish", "editorial-style", await box.file("style.md", "# Style v2\n"), "--json")
    .json<{ cid: string; release: string }>();
  return { v1, v2 };
}

describe("canon, offline, as a new owner uses it", () => {
  it("init creates an identity once, stored 0600, and prints its did", async () => {
    const first = box.ok("init", "--json").json<{ did: string; created: boolean }>();
    expect(first.did).toMatch(/^did:key:z6Mk/);
    expect(first.created).toBe(true);
    const again = box.ok("init", "--json").json<{ did: string; created: boolean }>();
    expect(again).toMatchObject({ did: first.did, created: false });
    expect(box.ok("id").stdout).toContain(first.did);
    expect((await stat(join(box.home, "identities", "default.json"))).mode & 0o777).toBe(0o600);
  });

  it("space create prints the space URL and makes it the default", () => {
    box.ok("init");
    const { url } = box.ok("space", "create", "pub", "--json").json<{ url: string }>();
    expect(url).toMatch(/^canon:[1-9A-Za-z]+\/bafyrei[a-z2-7]+$/);
    expect(
      box.ok("space", "ls", "--json").json<{ spaces: { url: string; default: boolean }[] }>()
        .spaces,
    ).toEqual([expect.objectContaining({ url, default: true })]);
  });

  it("publish returns the content CID whose digest is the file's sha256sum, and the release CID", async () => {
    box.ok("init");
    box.ok("space", "create", "pub");
    const bytes = Buffer.from("Rules\n\nNo inline code in non-technical articles.\n");
    const out = box
      .ok("publish", "rules", await box.file("rules.md", bytes), "--json")
      .json<Record<string, unknown>>();
    expect(Object.keys(out).sort()).toEqual([
      "cid",
      "incorporates",
      "release",
      "standard",
      "unchanged",
      "version",
    ]);
    expect(out).toMatchObject({
      standard: "rules",
      version: 1,
      incorporates: [],
      unchanged: false,
    });
    const { CID } = await import("multiformats/cid");
    const cid = CID.parse(out.cid as string);
    expect(cid.code).toBe(0x55);
    expect(Buffer.from(cid.multihash.digest).toString("hex")).toBe(
      createHash("sha256").update(bytes).digest("hex"),
    );
    expect(CID.parse(out.release as string).code).toBe(0x71);
  });

  it("show prints the exact bytes of the latest, a version number, a content CID or a release CID", async () => {
    const { v1, v2 } = await publishedSpace();
    expect(box.ok("show", "editorial-style").stdout).toBe("# Style v2\n");
    expect(box.ok("show", "editorial-style@1").stdout).toBe("# Style v1\n");
    expect(box.ok("show", `editorial-style@${v1.cid}`).stdout).toBe("# Style v1\n");
    expect(box.ok("show", `editorial-style@${v2.release}`).stdout).toBe("# Style v2\n");
    const json = box.ok("show", "editorial-style@1", "--json").json();
    expect(json).toMatchObject({
      standard: "editorial-style",
      version: 1,
      cid: v1.cid,
      release: v1.release,
      content: "# Style v1\n",
      lastSync: null,
    });
  });

  it("show is byte-exact for binary content", async () => {
    box.ok("init");
    box.ok("space", "create", "pub");
    const bytes = Buffer.from([0, 255, 10, 13, 0xc3, 0x28, 1, 2]);
    box.ok("publish", "blob", await box.file("b.bin", bytes));
    const run = box.canon("show", "blob", "--json");
    expect(run.json()).toMatchObject({ encoding: "base64", content: bytes.toString("base64") });
  });

  it("log lists versions with CIDs, authors, times and messages; ls lists standards with their latest version", async () => {
    const { v1, v2 } = await publishedSpace();
    const did = box.ok("id", "--json").json<{ did: string }>().did;
    const log = box
      .ok("log", "editorial-style", "--json")
      .json<{ releases: Record<string, unknown>[] }>();
    expect(log.releases).toEqual([
      expect.objectContaining({
        version: 2,
        cid: v2.cid,
        release: v2.release,
        author: did,
        message: "",
      }),
      expect.objectContaining({
        version: 1,
        cid: v1.cid,
        release: v1.release,
        author: did,
        message: "first",
      }),
    ]);
    expect(Date.parse(log.releases[0]?.createdAt as string)).toBeGreaterThan(Date.now() - 120_000);
    const text = box.ok("log", "editorial-style").stdout;
    expect(text).toContain(v1.cid);
    expect(text).toContain("first");
    box.ok("publish", "tone", await box.file("tone.md", "calm\n"));
    const ls = box
      .ok("ls", "--json")
      .json<{ standards: { standard: string; version: number }[] }>();
    expect(ls.standards.map((s) => [s.standard, s.version])).toEqual([
      ["editorial-style", 2],
      ["tone", 1],
    ]);
  });

  it("keeps working when the read index is deleted (it is a cache)", async () => {
    await publishedSpace();
    // Every cache file (a folder of shards goes with the file naming it).
    for (const entry of await readdir(join(box.home, "index"), { withFileTypes: true }))
      if (entry.isFile()) await writeFile(join(box.home, "index", entry.name), "{garbage");
    expect(box.ok("show", "editorial-style").stdout).toBe("# Style v2\n");
  });

  it("--help works on every command", async () => {
    for (const command of [
      [],
      ["init"],
      ["id"],
      ["id", "new"],
      ["space"],
      ["space", "create"],
      ["publish"],
      ["show"],
      ["log"],
      ["ls"],
      ["doctor"],
      ["stamp"],
      ["verify"],
      ["member", "add"],
      ["sync"],
      ["watch"],
      ["mcp"],
    ]) {
      const run = box.canon(...command, "--help");
      expect(run.status, command.join(" ")).toBe(0);
      expect(run.stdout).toMatch(/Usage: canon/);
      expect(run.stdout).toMatch(/--json/);
      expect(run.stdout, command.join(" ")).toMatch(/\nExamples:\n {2}\$ canon /);
    }
    // Every limit the relay reads from its environment is also a flag of `canon relay`.
    const { LIMIT_SETTINGS } = await import("../apps/relay/dist/index.js");
    const relayHelp = box.ok("relay", "--help").stdout;
    for (const { flag } of Object.values(LIMIT_SETTINGS))
      expect(relayHelp).toContain(`${flag} <n>`);
    const top = box.ok("--help").stdout;
    expect(top).toMatch(/Exit statuses:/);
    for (let status = 0; status <= 8; status++)
      expect(top).toMatch(new RegExp(`\\n {2}${status} {2}\\S`));
  });
});

describe("canon refuses bad input with one line and a non-zero exit", () => {
  it("no identity yet", async () => {
    const run = box.canon("space", "create", "x");
    expect(run.status).toBe(3);
    expectOneLineError(run.stderr, /no identity "default".*canon init/);
  });

  it("no space yet", async () => {
    box.ok("init");
    const run = box.canon("publish", "s", await box.file("a.md", "x"));
    expect(run.status).toBe(3);
    expectOneLineError(run.stderr, /no space yet/);
    expect(box.canon("ls").status).toBe(3);
  });

  it("unknown standard, unknown version, malformed CID", async () => {
    await publishedSpace();
    let run = box.canon("show", "nope");
    expect(run.status).toBe(3);
    expectOneLineError(run.stderr, /no standard "nope" in this space; 1 standard\(s\) here/);
    run = box.canon("show", "editorial-styel");
    expect(run.status).toBe(3);
    expectOneLineError(run.stderr, /did you mean editorial-style\?/);
    expect(box.ok("show", "editorial-style@latest").stdout).toBe(
      box.ok("show", "editorial-style").stdout,
    );
    expect(box.ok("show", "editorial-style@v1").stdout).toBe(
      box.ok("show", "editorial-style@1").stdout,
    );
    run = box.canon("show", "editorial-style@newest!");
    expect(run.status).toBe(2);
    expectOneLineError(
      run.stderr,
      /after @ comes a version \(3 or v3\), latest, or a release or content CID/,
    );
    run = box.canon("show", "editorial-style@9");
    expect(run.status).toBe(3);
    expectOneLineError(run.stderr, /no version 9 \(latest is 2\)/);
    run = box.canon("show", "editorial-style@bafynotacid");
    expect(run.status).toBe(2);
    expectOneLineError(run.stderr, /"bafynotacid" is neither a version of editorial-style/);
    expect(run.stderr).not.toMatch(/multibase decoder/);
    run = box.canon("log", "nope");
    expect(run.status).toBe(3);
  });

  it("missing or unreadable file, a device, and a folder holding the Canon home", async () => {
    box.ok("init");
    box.ok("space", "create", "pub");
    let run = box.canon("publish", "s", join(box.dir, "missing.md"));
    expect(run.status).toBe(3);
    expectOneLineError(run.stderr, /cannot read .*missing\.md: no such file/);
    run = box.canon("publish", "s", "/dev/null");
    expect(run.status).toBe(3);
    expectOneLineError(run.stderr, /is not a regular file/);
    // A folder is a bundle, but never one holding the home's private keys.
    run = box.canon("publish", "s", box.dir);
    expect(run.status).toBe(2);
    expectOneLineError(run.stderr, /holds the Canon home .* \(private keys\)/);
    expect(box.ok("ls", "--json").json<{ standards: unknown[] }>().standards).toEqual([]);
  });

  it("a bad standard name, a typo in a command, an unknown option", async () => {
    box.ok("init");
    box.ok("space", "create", "pub");
    let run = box.canon("publish", "Bad Name", await box.file("a.md", "x"));
    expect(run.status).toBe(2);
    expectOneLineError(run.stderr, /not a valid standard name/);
    run = box.canon("pubish");
    expect(run.status).toBe(2);
    // One line, the suggestion on it (commander's line break is not printed as a literal \n).
    expectOneLineError(run.stderr, /^canon: unknown command 'pubish' \(Did you mean publish\?\)$/);
    // With --help too: the typo is reported, not hidden behind the main help.
    run = box.canon("pubish", "--help");
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/Did you mean publish\?/);
    expect(run.stdout).toBe("");
    run = box.canon("ls", "--frobnicate");
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/unknown option '--frobnicate'/);
  });

  it("--space by a unique name; a second space of the same name needs --force", async () => {
    box.ok("init");
    const first = box.ok("space", "create", "pub", "--json").json<{ url: string }>().url;
    const again = box.canon("space", "create", "pub");
    expect(again.status).toBe(2);
    expectOneLineError(again.stderr, /already has a space named "pub".*--force/);
    box.ok("space", "create", "other");
    box.ok("publish", "s", await box.file("s.md", "x\n"), "--space", "pub");
    expect(box.ok("ls", "--space", "pub", "--json").json<{ space: string }>().space).toBe(first);
    expect(box.canon("ls", "--space", "nope").status).toBe(3);
    box.ok("space", "create", "pub", "--force");
    const ambiguous = box.canon("ls", "--space", "pub");
    expect(ambiguous.status).toBe(2);
    expectOneLineError(ambiguous.stderr, /2 spaces are named "pub"/);
  });

  it("terminal output shortens dids where they are not the point; --json keeps them whole", async () => {
    const { did } = box.ok("init", "--json").json<{ did: string }>();
    box.ok("space", "create", "short");
    box.ok("publish", "s", await box.file("s.md", "x\n"));
    const short = `${did.slice(0, 14)}…${did.slice(-6)}`;
    const log = box.ok("log", "s").stdout;
    expect(log).toContain(`author   ${short}`);
    expect(log).not.toContain(did);
    expect(
      box.ok("log", "s", "--json").json<{ releases: { author: string }[] }>().releases[0]?.author,
    ).toBe(did);
  });

  it("a reader that closes the pipe early (| head) ends the output without a crash", async () => {
    const { spawnSync } = await import("node:child_process");
    const { CANON_BIN } = await import("./helpers/cli.js");
    const piped = spawnSync(
      "bash",
      ["-c", `set -o pipefail; "${process.execPath}" "${CANON_BIN}" --help | head -1`],
      { env: { ...process.env, CANON_HOME: box.home }, encoding: "utf8" },
    );
    expect(piped.stdout).toMatch(/^Usage: canon/);
    expect(piped.stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(piped.status).toBe(0);
  });

  it("with --json, an error is also one JSON object on stdout: code, message, exit status", async () => {
    await publishedSpace();
    let run = box.canon("show", "nope", "--json");
    expect(run.status).toBe(3);
    expect(run.json()).toEqual({
      error: {
        code: "UNKNOWN_STANDARD",
        message: expect.stringMatching(/no standard "nope"/),
        exitStatus: 3,
      },
    });
    expectOneLineError(run.stderr, /no standard "nope"/);
    run = box.canon("lss", "--json");
    expect(run.status).toBe(2);
    expect(run.json()).toMatchObject({ error: { code: "BAD_ARGUMENT", exitStatus: 2 } });
    // A command that printed its result and then fails adds no second document.
    const output = await box.file("out.md", "x\n");
    box.ok("stamp", output);
    await box.file("out.md", "changed\n");
    run = box.canon("verify", output, "--json");
    expect(run.status).toBe(7);
    expect(run.json()).toMatchObject({ verified: false });
  });

  it("a malformed --space URL", () => {
    box.ok("init");
    const run = box.canon("ls", "--space", "automerge:abc");
    expect(run.status).toBe(2);
    expectOneLineError(run.stderr, /is not a space URL/);
  });

  it("a malformed default space in config.json: names the file, exit 4, and --space still works", async () => {
    await publishedSpace();
    const config = join(box.home, "config.json");
    const saved = JSON.parse(await readFile(config, "utf8"));
    await writeFile(config, JSON.stringify({ ...saved, defaultSpace: "canon:bogus" }));
    for (const args of [["ls"], ["show", "editorial-style@1"]]) {
      const run = box.canon(...args);
      expect(run.status).toBe(4);
      expectOneLineError(run.stderr, new RegExp(`default space in ${config} is not a space URL`));
    }
    expect(box.ok("show", "editorial-style", "--space", saved.defaultSpace).stdout).toBe(
      "# Style v2\n",
    );
  });

  it("a corrupted storage file: names it, and every other standard still reads", async () => {
    await publishedSpace();
    box.ok("publish", "tone", await box.file("tone.md", "calm\n"));
    const url = box.ok("space", "ls", "--json").json<{ spaces: { url: string }[] }>().spaces[0]
      ?.url as string;
    const spaceId = url.slice("canon:".length).split("/")[0] as string;
    // Damage every chunk of one standard document (any one but the space's).
    const replica = join(box.home, "replica");
    const documents: string[] = [];
    for (const prefix of await readdir(replica)) {
      if (prefix.length !== 2) continue;
      for (const rest of await readdir(join(replica, prefix))) {
        const isDocument = (await stat(join(replica, prefix, rest))).isDirectory();
        if (isDocument && prefix + rest !== spaceId) documents.push(join(replica, prefix, rest));
      }
    }
    expect(documents).toHaveLength(2);
    const target = documents[0] as string;
    const damaged: string[] = [];
    for (const kind of await readdir(target)) {
      if (kind === "sync-state") continue;
      for (const name of await readdir(join(target, kind))) {
        const file = join(target, kind, name);
        const bytes = await readFile(file);
        bytes.writeUInt8(bytes.readUInt8(bytes.length - 2) ^ 0xff, bytes.length - 2);
        await writeFile(file, bytes);
        damaged.push(file);
      }
    }
    const before = await Promise.all(damaged.map((file) => readFile(file)));

    const ls = box.canon("ls", "--json");
    expect(ls.status).toBe(4);
    const listing = ls.json<{
      standards: { standard: string }[];
      damaged: { standard: string; message: string }[];
    }>();
    expect(listing.damaged).toHaveLength(1);
    const broken = listing.damaged[0]?.standard as string;
    const intact = broken === "tone" ? "editorial-style" : "tone";
    expect(listing.standards.map((s) => s.standard)).toEqual([intact]);
    expect(listing.damaged[0]?.message).toMatch(
      new RegExp(`storage file ${target}/\\S+ is damaged`),
    );
    expect(ls.stderr).toMatch(/^canon: storage file .* is damaged/);

    // Reading the damaged standard from the replica fails and names the file...
    for (const entry of await readdir(join(box.home, "index"), { withFileTypes: true }))
      if (entry.isFile()) await writeFile(join(box.home, "index", entry.name), "{}");
    const show = box.canon("show", broken);
    expect(show.status).toBe(4);
    expectOneLineError(show.stderr, new RegExp(`storage file ${target}/\\S+ is damaged`));
    // ...publishing to it is refused rather than starting a second history...
    expect(box.canon("publish", broken, await box.file("n.md", "new\n")).status).toBe(4);
    // ...the other standard reads, and the damaged files are left as they were.
    expect(box.ok("show", intact).stdout).toBe(intact === "tone" ? "calm\n" : "# Style v2\n");
    expect(await Promise.all(damaged.map((file) => readFile(file)))).toEqual(before);
  });
});
