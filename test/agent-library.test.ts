import { spawnSync } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";

/**
 * The agent library as a project outside this repository gets it: `pnpm
 * pack`ed, installed by npm into a scratch project, type-checked there
 * against the declarations the tarball ships, and its example run against a
 * Canon home the CLI set up.
 */
const root = resolve(import.meta.dirname, "..");
const cleanup: string[] = [];
let owner: Sandbox | undefined;
afterAll(async () => {
  await owner?.dispose();
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

describe("@canon/agent from a packed tarball", () => {
  it("installs into a scratch project, type-checks there, and runs the example agent: context, stamp, verify", async () => {
    const project = await mkdtemp(join(tmpdir(), "canon-agent-project-"));
    cleanup.push(project);
    const pnpm = JSON.parse(await readFile(join(root, "package.json"), "utf8"))
      .packageManager as string;
    run("npx", ["-y", pnpm, "pack", "--pack-destination", project], join(root, "packages/agent"));
    await writeFile(
      join(project, "package.json"),
      JSON.stringify({ name: "scratch-agent", private: true, type: "module" }),
    );
    run(
      "npm",
      ["install", "--no-audit", "--no-fund", join(project, "canon-agent-0.1.0.tgz")],
      project,
    );
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
});
