import { spawn, spawnSync } from "node:child_process";
import { copyFile, mkdtemp, readdir, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { packWorkspacePackage } from "./helpers/packed.js";
import { startRelay, stopAll } from "./helpers/processes.js";

/**
 * The agent library as a project outside this repository gets it: `pnpm
 * pack`ed, installed by npm into a scratch project, type-checked there
 * against the declarations the tarball ships, and its example run against a
 * Canon home the CLI set up. automerge-repo comes in its bundle, patched
 * (docs/decisions/2026-11-30-packaging.md): npm installs none beside it.
 */
const root = resolve(import.meta.dirname, "..");
const cleanup: string[] = [];
let owner: Sandbox | undefined;
const homes: Sandbox[] = [];
afterAll(async () => {
  await stopAll();
  await owner?.dispose();
  for (const home of homes) await home.dispose();
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    timeout: 240_000,
    env: { ...process.env, ...env },
  });
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(" ")} failed: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** The scratch project the tarball is installed into, as a user's project installs it. */
let project: string;
beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), "canon-agent-project-"));
  cleanup.push(project);
  const tarball = packWorkspacePackage("packages/agent", project);
  await writeFile(
    join(project, "package.json"),
    JSON.stringify({ name: "scratch-agent", private: true, type: "module" }),
  );
  run("npm", ["install", "--no-audit", "--no-fund", tarball], project);
}, 300_000);

describe("@canon/agent from a packed tarball", () => {
  it("installs into a scratch project, type-checks there, and runs the example agent: context, stamp, verify", async () => {
    await copyFile(join(root, "examples/writer-agent/agent.mjs"), join(project, "agent.mjs"));

    // The shipped declarations type the example (checkJs), with nothing of this repository's.
    run(
      process.execPath,
      [
        join(root, "node_modules/typescript/bin/tsc"),
        "--noEmit",
        "--allowJs",
        "--checkJs",
        "--strict",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--target",
        "es2022",
        "--typeRoots",
        join(root, "node_modules/@types"),
        "--types",
        "node",
        "agent.mjs",
      ],
      project,
    );

    owner = await sandbox();
    owner.ok("init");
    owner.ok("space", "create", "pub");
    owner.ok("publish", "style", await owner.file("style.md", "# Style\nShort sentences.\n"));
    owner.ok("correct", "style", "No exclamation marks.");
    const writer = owner.ok("id", "new", "--name", "writer", "--json").json<{ did: string }>();
    owner.ok("member", "add", writer.did, "--role", "contributor");

    const printed = run(process.execPath, ["agent.mjs", "style", "writer"], project, {
      CANON_HOME: owner.home,
    });
    const result = JSON.parse(printed) as {
      version: number;
      corrections: number;
      stamp: string;
      verified: boolean;
      currentWhenStamped: boolean;
    };
    expect(result).toMatchObject({
      version: 1,
      corrections: 1,
      verified: true,
      currentWhenStamped: true,
    });
    const article = await readFile(join(project, "article.md"), "utf8");
    expect(article).toMatch(
      /^An article written following style@1\.\nIt begins as the guide does: # Style/,
    );

    // The stamp is in the writer's feed: the CLI verifies the output without its sidecar.
    await unlink(join(project, "article.md.canon.json"));
    const verified = owner.ok("verify", join(project, "article.md"), "--json").json<{
      stamps: { stamp: { cid: string; author: string }; verified: boolean }[];
    }>();
    expect(verified.stamps).toEqual([
      expect.objectContaining({
        verified: true,
        stamp: expect.objectContaining({ cid: result.stamp, author: writer.did }),
      }),
    ]);
  }, 300_000);

  it("brings no automerge-repo of its own: npm installs Automerge alone, the patched automerge-repo is in the bundle", async () => {
    const installed = (
      await readdir(join(project, "node_modules"), { recursive: true, withFileTypes: true })
    ).filter((entry) => entry.isDirectory() && entry.name.startsWith("automerge-repo"));
    expect(installed.map((entry) => join(entry.parentPath, entry.name))).toEqual([]);
    const require = createRequire(join(project, "node_modules/@canon/agent/dist/index.mjs"));
    expect(() => require.resolve("@automerge/automerge-repo")).toThrow(/Cannot find module/);
  });

  it("watches the space's relay with the automerge-repo bundled in it: a release published from another home arrives", async () => {
    const relayData = await mkdtemp(join(tmpdir(), "canon-agent-relay-"));
    cleanup.push(relayData);
    const relay = await startRelay(relayData);
    const [publisher, other] = [await sandbox(), await sandbox()];
    homes.push(publisher, other);
    publisher.ok("init");
    const { url } = publisher.ok("space", "create", "watched", "--json").json<{ url: string }>();
    publisher.ok("publish", "style", await publisher.file("style.md", "v1\n"));
    const { did } = other.ok("init", "--json").json<{ did: string }>();
    publisher.ok("member", "add", did, "--role", "maintainer");
    publisher.ok("sync", "--relay", relay.url);
    other.ok("space", "join", url, "--relay", relay.url);

    // The agent watches the publisher's home, in a process of its own.
    await writeFile(
      join(project, "watch.mjs"),
      [
        'import { openAgent } from "@canon/agent";',
        "const watching = new AbortController();",
        "await openAgent().watch({",
        "  signal: watching.signal,",
        "  onConnection: (connected) => console.log(JSON.stringify({ connected })),",
        "  onRecord: (record) => {",
        "    console.log(JSON.stringify(record));",
        "    if (record.version === 2) watching.abort();",
        "  },",
        "});",
        "",
      ].join("\n"),
    );
    const watch = spawn(process.execPath, ["watch.mjs"], {
      cwd: project,
      env: { ...process.env, CANON_HOME: publisher.home, CANON_NO_OWNER: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: string[] = [];
    createInterface({ input: watch.stdout }).on("line", (line) => lines.push(line));
    let stderr = "";
    watch.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((done) => watch.once("exit", done));
    try {
      const until = (found: (line: string) => boolean) =>
        new Promise<void>((done, fail) => {
          const timer = setTimeout(
            () => fail(new Error(`no such line: ${lines}; ${stderr}`)),
            30_000,
          );
          const poll = setInterval(() => {
            if (!lines.some(found)) return;
            clearInterval(poll);
            clearTimeout(timer);
            done();
          }, 50);
        });
      await until((line) => line.includes('"connected":true'));
      other.ok("publish", "style", await other.file("style.md", "v2\n"));
      other.ok("sync", "--relay", relay.url);
      expect(await exited).toBe(0);
      expect(lines.map((line) => JSON.parse(line))).toContainEqual(
        expect.objectContaining({ type: "canon/release", standard: "style", version: 2 }),
      );
    } finally {
      watch.kill();
    }
  }, 120_000);
});
