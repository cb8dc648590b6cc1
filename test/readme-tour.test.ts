import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CANON_BIN } from "./helpers/cli.js";
import { installCliFromTarball } from "./helpers/packed.js";
import { startCanon, stopAll } from "./helpers/processes.js";

/**
 * The README's 60-second tour, run as written: its lines are read from the
 * README itself, so the tour cannot drift from the product. Only what a
 * reader fills in changes: the paths under /tmp and the port become a
 * temporary directory and a free port, and `<agent-did>`, `<space-url>`,
 * `<correction-id>` and `bafkrei...` take the values earlier lines printed.
 * It runs twice: with this repository's build, and with the CLI packed into
 * a tarball and installed by npm into a scratch prefix, as a user installs it.
 */
const README = readFileSync(resolve(import.meta.dirname, "../README.md"), "utf8");

function tourLines(): string[] {
  const start = README.indexOf("## A 60-second tour");
  const open = README.indexOf("```sh\n", start) + "```sh\n".length;
  const close = README.indexOf("```", open);
  return README.slice(open, close)
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.trim().startsWith("#"));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

const cleanup: string[] = [];
/** Every home the tour used: as a user's, each may have an owner process started on demand. */
const homes = new Set<string>();
afterAll(async () => {
  await stopAll();
  // An owner still running would write into a home while it is removed (and outlive the test).
  for (const home of homes)
    spawnSync(process.execPath, [CANON_BIN, "owner", "--stop"], {
      env: { PATH: process.env.PATH ?? "", CANON_HOME: home },
      timeout: 30_000,
    });
  // An owner started just after its stop (the last command's) leaves when its socket goes,
  // and may still write meanwhile: removal retries.
  for (const dir of cleanup)
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
});

let installedBin: string;
beforeAll(async () => {
  const installed = await installCliFromTarball();
  cleanup.push(installed.scratch);
  installedBin = installed.bin;
}, 300_000);

async function runTour(bin: string): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "canon-tour-"));
  cleanup.push(work);
  await writeFile(join(work, "style.md"), "# Editorial style\n\n- Plain words.\n");
  await writeFile(join(work, "article.md"), "# Launch notes\n\nPlain words.\n");
  const port = String(await freePort());
  const values: Record<string, string> = {};
  let env: NodeJS.ProcessEnv = { ...process.env };
  const fill = (line: string) => {
    let filled = line
      .replaceAll("/tmp/", `${work}/`)
      .replaceAll("3030", port)
      .replaceAll("bafkrei...", values.contentCid ?? "bafkrei...");
    for (const [name, value] of Object.entries(values))
      filled = filled.replaceAll(`<${name}>`, value);
    expect(filled, `a placeholder with no value yet: ${line}`).not.toMatch(/<[a-z-]+>/);
    return filled;
  };
  const canonFunction = `canon() { "${process.execPath}" "${bin}" "$@"; }\n`;

  for (const line of tourLines()) {
    if (line.startsWith("alias canon=")) continue;
    const filled = fill(line);
    const exported = /^export CANON_HOME=(\S+)/.exec(filled);
    if (exported) {
      env = { ...env, CANON_HOME: exported[1] };
      homes.add(exported[1] as string);
      continue;
    }
    const words = filled.replace(/\s+#.*$/, "").trim();
    if (words.endsWith("&")) {
      // The relay, in the background, until it listens.
      const args = words.slice("canon ".length, -1).trim().split(/\s+/);
      const relay = startCanon([...args, "--json"], env.CANON_HOME as string, bin);
      await relay.waitForLine((out) => out.startsWith("{"));
      continue;
    }
    if (words === "canon watch") {
      const watch = startCanon(["watch", "--json"], env.CANON_HOME as string, bin);
      await watch.waitForLine((out) => out.includes('"connected"'));
      expect(await watch.stop("SIGINT")).toBe(0);
      continue;
    }
    const run = spawnSync("bash", ["-c", canonFunction + filled], {
      cwd: work,
      env,
      encoding: "utf8",
      timeout: 60_000,
    });
    expect({ line, status: run.status, stderr: run.stderr }).toMatchObject({ line, status: 0 });
    // What later lines need, from what this one printed.
    if (/canon space create/.test(line))
      values["space-url"] = (/canon:\S+/.exec(run.stdout) as RegExpExecArray)[0];
    if (/^canon init/.test(line) && env.CANON_HOME?.endsWith("/agent"))
      values["agent-did"] = (/did:key:\S+/.exec(run.stdout) as RegExpExecArray)[0];
    if (/canon publish editorial-style style\.md -m/.test(line))
      values.contentCid = (/content\s+(\S+)/.exec(run.stdout) as RegExpExecArray)[1] as string;
    if (/canon correct editorial-style/.test(line))
      values["correction-id"] = (/id\s+(\S+)/.exec(run.stdout) as RegExpExecArray)[1] as string;
  }
  // It ended where the tour says: the correction folded into version 2.
  const log = spawnSync(
    process.execPath,
    [CANON_BIN, "corrections", "editorial-style", "--all", "--json"],
    {
      cwd: work,
      env: { ...env, CANON_HOME: join(work, "owner") },
      encoding: "utf8",
    },
  );
  expect(JSON.parse(log.stdout).corrections).toEqual([
    expect.objectContaining({
      state: "incorporated",
      incorporatedBy: [expect.objectContaining({ version: 2 })],
    }),
  ]);
}

describe("the README's tour", () => {
  it("runs as written on fresh homes with a real relay", () => runTour(CANON_BIN));

  it("runs as written with the CLI installed from its tarball by npm (no clone, no build)", () =>
    runTour(installedBin));

  it("serves MCP from the installed tarball (the SDK is bundled)", async () => {
    const work = await mkdtemp(join(tmpdir(), "canon-tour-mcp-"));
    cleanup.push(work);
    const env = { PATH: process.env.PATH ?? "", CANON_HOME: join(work, "home") };
    homes.add(env.CANON_HOME);
    for (const args of [["init"], ["space", "create", "tarball"]])
      expect(spawnSync(process.execPath, [installedBin, ...args], { env }).status).toBe(0);
    await writeFile(join(work, "style.md"), "Plain words.\n");
    const published = spawnSync(
      process.execPath,
      [installedBin, "publish", "editorial-style", join(work, "style.md")],
      { env: { ...env, CANON_NO_OWNER: "1" } },
    );
    expect(published.status).toBe(0);
    const client = new Client({ name: "tour", version: "1.0.0" });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [installedBin, "mcp"],
        cwd: work,
        env,
        stderr: "ignore",
      }),
    );
    try {
      const read = await client.readResource({ uri: "canon://editorial-style" });
      expect(read.contents[0]).toMatchObject({ text: "Plain words.\n" });
      expect((await client.listTools()).tools).toHaveLength(6);
    } finally {
      await client.close();
    }
  });
});
