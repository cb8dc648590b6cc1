import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  McpError,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CANON_BIN, type Sandbox, sandbox } from "./helpers/cli.js";
import { type RelayProcess, startRelay, stopAll } from "./helpers/processes.js";

let a: Sandbox;
let b: Sandbox;
let relayData: string;
let relay: RelayProcess;
const clients: Client[] = [];
const children: ChildProcess[] = [];
beforeEach(async () => {
  a = await sandbox();
  b = await sandbox();
  relayData = await mkdtemp(join(tmpdir(), "canon-relay-"));
  relay = await startRelay(relayData);
});
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close().catch(() => {});
  for (const child of children.splice(0)) child.kill("SIGKILL");
  await stopAll();
  await a.dispose();
  await b.dispose();
  await rm(relayData, { recursive: true, force: true });
});

/**
 * A maintainer (a) publishes a single-file standard and a bundle through a
 * relay; an agent (b, a contributor) joins, and its project pulls both.
 */
async function sharedProject(): Promise<{ project: string; url: string }> {
  a.ok("init");
  const { url } = a.ok("space", "create", "mcp", "--json").json<{ url: string }>();
  a.ok("publish", "editorial-style", await a.file("style.md", "# Style\n\nShort sentences.\n"));
  const skill = join(a.dir, "skill");
  await mkdir(join(skill, "scripts"), { recursive: true });
  await writeFile(join(skill, "SKILL.md"), "---\nname: demo\ndescription: a demo\n---\nRun it.\n");
  await writeFile(join(skill, "scripts", "run.sh"), "#!/bin/sh\necho ok\n", { mode: 0o755 });
  a.ok("publish", "skills/demo", skill);
  const did = b.ok("init", "--json").json<{ did: string }>().did;
  a.ok("member", "add", did, "--role", "contributor");
  a.ok("sync", "--relay", relay.url);
  b.ok("space", "join", url, "--relay", relay.url);
  const project = join(b.dir, "project");
  await mkdir(project);
  b.ok("add", "editorial-style", "--as", "agents-md", "--project", project);
  b.ok("add", "skills/demo", "--project", project);
  b.ok("pull", "--project", project);
  return { project, url };
}

/** The built CLI's `canon mcp` as a real child process, through the SDK's own client. */
async function connect(cwd: string, home: string, args: string[] = []): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CANON_BIN, "mcp", ...args],
    cwd,
    env: { PATH: process.env.PATH ?? "", CANON_HOME: home, CANON_OWNER_IDLE_SECONDS: "30" },
    stderr: "pipe",
  });
  const client = new Client({ name: "canon-test", version: "1.0.0" });
  clients.push(client);
  const problems: Error[] = [];
  client.onerror = (error) => problems.push(error);
  await client.connect(transport);
  Object.assign(client, { problems });
  return client;
}

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs`. */
async function until(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A tool's structured result, failing the test on a tool error. */
async function call<T = Record<string, unknown>>(
  client: Client,
  name: string,
  args: Record<string, unknown>,
): Promise<T> {
  const result = await client.callTool({ name, arguments: args });
  if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  return result.structuredContent as T;
}

/** A tool's error text, failing the test when the tool succeeded. */
async function toolError(client: Client, name: string, args: unknown): Promise<string> {
  const result = await client.callTool({ name, arguments: args as Record<string, unknown> });
  expect(result.isError, `${name} should fail`).toBe(true);
  return (result.content as { text: string }[])[0]?.text ?? "";
}

describe("canon mcp", () => {
  it("serves the project's pinned context as resources, templates and prompts, with CIDs in the metadata", async () => {
    const { project } = await sharedProject();
    const shown = b
      .ok("show", "editorial-style", "--json")
      .json<{ cid: string; release: string }>();
    const client = await connect(project, b.home);
    expect(client.getServerCapabilities()?.resources).toMatchObject({
      subscribe: true,
      listChanged: true,
    });

    const { resources } = await client.listResources();
    const uris = resources.map((resource) => resource.uri);
    expect(uris).toEqual(
      expect.arrayContaining([
        "canon://status",
        "canon://editorial-style",
        "canon://skills/demo",
        "canon://skills/demo/SKILL.md",
        "canon://skills/demo/scripts/run.sh",
      ]),
    );
    const style = resources.find((resource) => resource.uri === "canon://editorial-style");
    expect(style?._meta?.canon).toMatchObject({
      version: 1,
      contentCid: shown.cid,
      releaseCid: shown.release,
      pinned: true,
    });
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((template) => template.uriTemplate)).toEqual([
      "canon://{standard}/{path}",
    ]);

    const read = await client.readResource({ uri: "canon://editorial-style" });
    expect(read.contents[0]).toMatchObject({
      text: "# Style\n\nShort sentences.\n",
      _meta: { canon: { version: 1, contentCid: shown.cid } },
    });
    const file = await client.readResource({ uri: "canon://skills/demo/scripts/run.sh" });
    expect(file.contents[0]).toMatchObject({ text: "#!/bin/sh\necho ok\n" });
    const status = await client.readResource({ uri: "canon://status" });
    const parsed = JSON.parse((status.contents[0] as { text: string }).text) as {
      current: boolean;
      standards: { standard: string; state: string }[];
    };
    expect(parsed.current).toBe(true);
    expect(parsed.standards.map((entry) => entry.state)).toEqual(["current", "current"]);

    const { prompts } = await client.listPrompts();
    expect(prompts.map((prompt) => prompt.name).sort()).toEqual(["editorial-style", "skills/demo"]);
    const prompt = await client.getPrompt({ name: "editorial-style" });
    expect(prompt.messages[0]?.content).toEqual({
      type: "text",
      text: "# Style\n\nShort sentences.\n",
    });
    const bundlePrompt = await client.getPrompt({ name: "skills/demo" });
    expect(bundlePrompt.messages.map((message) => message.content)).toContainEqual(
      expect.objectContaining({ type: "resource_link", uri: "canon://skills/demo/SKILL.md" }),
    );
    expect((client as unknown as { problems: Error[] }).problems).toEqual([]);
  });

  it("calls every tool with structured output, and pushes a publish on another home to subscribers through the relay", async () => {
    const { project } = await sharedProject();
    const client = await connect(project, b.home);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual([
      "canon_correct",
      "canon_log",
      "canon_pull",
      "canon_stamp",
      "canon_status",
      "canon_verify",
    ]);
    for (const tool of tools) expect(tool.outputSchema?.type).toBe("object");

    expect(await call(client, "canon_status", {})).toMatchObject({ current: true });
    await writeFile(join(project, "article.md"), "An article.\n");
    const stamped = await call<{ cid: string; stampFile: string; context: unknown[] }>(
      client,
      "canon_stamp",
      { path: "article.md" },
    );
    expect(existsSync(join(project, "article.md.canon.json"))).toBe(true);
    expect(stamped.context).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ standard: "editorial-style", version: 1 }),
        expect.objectContaining({ standard: "skills/demo", version: 1 }),
      ]),
    );
    expect(await call(client, "canon_verify", { path: "article.md" })).toMatchObject({
      verified: true,
      from: "sidecar",
      stamps: [{ verified: true, stamp: { cid: stamped.cid } }],
    });
    const corrected = await call<{ cid: string; evidence: string }>(client, "canon_correct", {
      standard: "editorial-style",
      text: "No inline code in non-technical articles.",
      evidence: "article.md",
    });
    expect(corrected.evidence).toBe(stamped.cid);
    // The correction is in force at once in the rendered context this server serves.
    const rendered = await client.readResource({ uri: "canon://editorial-style" });
    expect((rendered.contents[0] as { text: string }).text).toContain(
      "No inline code in non-technical articles.",
    );
    const log = await call<{ releases: { version: number }[] }>(client, "canon_log", {
      standard: "editorial-style",
    });
    expect(log.releases.map((release) => release.version)).toEqual([1]);

    // Live: subscribe, publish v2 on the maintainer's home, sync it through the relay.
    const updated: string[] = [];
    let listChanged = 0;
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => {
      updated.push(notification.params.uri);
    });
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => {
      listChanged += 1;
    });
    await client.subscribeResource({ uri: "canon://editorial-style" });
    await client.subscribeResource({ uri: "canon://status" });
    a.ok("publish", "editorial-style", await a.file("style.md", "# Style\n\nShorter.\n"));
    a.ok("sync");
    await until(
      () => updated.includes("canon://editorial-style") && updated.includes("canon://status"),
      "notifications/resources/updated",
    );
    await until(() => listChanged > 0, "notifications/resources/list_changed");
    // Pinned: the project still reads v1, and its metadata says v2 is out.
    const listed = await client.listResources();
    expect(
      listed.resources.find((resource) => resource.uri === "canon://editorial-style")?._meta?.canon,
    ).toMatchObject({ version: 1, latestVersion: 2 });
    expect(await call(client, "canon_status", {})).toMatchObject({ current: false });

    const pulled = await call<{ standards: { standard: string; version: number }[] }>(
      client,
      "canon_pull",
      {},
    );
    expect(pulled.standards).toContainEqual(
      expect.objectContaining({ standard: "editorial-style", version: 2 }),
    );
    const after = await client.readResource({ uri: "canon://editorial-style" });
    expect((after.contents[0] as { text: string }).text).toMatch(/^# Style\n\nShorter\.\n/);
    expect(
      (await call<{ releases: unknown[] }>(client, "canon_log", { standard: "editorial-style" }))
        .releases,
    ).toHaveLength(2);
    expect((client as unknown as { problems: Error[] }).problems).toEqual([]);
  });

  it("answers bad requests with MCP errors and keeps serving; refuses paths leaving the project, FIFOs and links out", async () => {
    const { project } = await sharedProject();
    const client = await connect(project, b.home);
    await expect(client.readResource({ uri: "canon://no-such-standard" })).rejects.toMatchObject({
      code: -32002,
      message: expect.stringContaining("no resource canon://no-such-standard"),
    });
    await expect(client.readResource({ uri: "canon://skills/demo/nope.md" })).rejects.toThrow(
      /has no file nope\.md/,
    );
    await expect(client.readResource({ uri: "file:///etc/passwd" })).rejects.toBeInstanceOf(
      McpError,
    );
    await expect(client.getPrompt({ name: "nope" })).rejects.toThrow(/no prompt "nope"/);
    await expect(
      client.subscribeResource({ uri: `canon://${"x".repeat(5000)}` }),
    ).rejects.toMatchObject({ code: -32602 });
    await expect(client.subscribeResource({ uri: "https://example.com/" })).rejects.toThrow(
      /canon:\/\/ addresses/,
    );
    await expect(
      client.request(
        { method: "nope/nope", params: {} },
        ResourceUpdatedNotificationSchema.shape.params,
      ),
    ).rejects.toMatchObject({ code: -32601 });

    expect(await toolError(client, "canon_log", { standard: "nope" })).toMatch(
      /no standard "nope".*UNKNOWN_STANDARD/,
    );
    expect(await toolError(client, "canon_log", { standard: 5 })).toMatch(/Input validation/);
    expect(await toolError(client, "canon_log", { standard: "x", extra: true })).toMatch(
      /Input validation/,
    );
    expect(await toolError(client, "canon_nope", {})).toMatch(/not found/);
    await writeFile(join(b.dir, "outside.md"), "outside\n");
    expect(await toolError(client, "canon_stamp", { path: "../outside.md" })).toMatch(
      /outside the project/,
    );
    expect(await toolError(client, "canon_stamp", { path: join(b.dir, "outside.md") })).toMatch(
      /outside the project/,
    );
    await symlink(join(b.dir, "outside.md"), join(project, "link.md"));
    expect(await toolError(client, "canon_stamp", { path: "link.md" })).toMatch(
      /leads outside the project/,
    );
    expect(spawnSync("mkfifo", [join(project, "fifo")]).status).toBe(0);
    expect(await toolError(client, "canon_stamp", { path: "fifo" })).toMatch(/not a regular file/);
    expect(await toolError(client, "canon_verify", { path: "missing.md" })).toMatch(
      /no such file.*FILE_UNREADABLE/,
    );
    expect(
      await toolError(client, "canon_correct", { standard: "editorial-style", text: "" }),
    ).toMatch(/Input validation/);
    expect(existsSync(join(b.dir, "outside.md.canon.json"))).toBe(false);

    // Offline: the relay gone, a pull says so and installs from the replica; reads go on.
    await relay.stop("SIGKILL");
    expect(await call(client, "canon_pull", { timeoutSeconds: 2 })).toMatchObject({
      sync: "offline",
    });
    // Still serving.
    expect((await client.listResources()).resources.length).toBeGreaterThan(3);
    expect(
      (await client.readResource({ uri: "canon://editorial-style" })).contents[0],
    ).toMatchObject({ text: "# Style\n\nShort sentences.\n" });
    expect((client as unknown as { problems: Error[] }).problems).toEqual([]);
  });

  it("says which identity is missing or not a member", async () => {
    const { project } = await sharedProject();
    b.ok("id", "new", "--name", "stranger");
    await writeFile(join(project, "out.md"), "out\n");
    const stranger = await connect(project, b.home, ["--as", "stranger"]);
    expect(await toolError(stranger, "canon_stamp", { path: "out.md" })).toMatch(/NOT_A_MEMBER/);
    await stranger.close();
    const ghost = await connect(project, b.home, ["--as", "ghost"]);
    expect(
      await toolError(ghost, "canon_correct", { standard: "editorial-style", text: "x" }),
    ).toMatch(/NO_IDENTITY/);
  });

  it("serves a standard named status at canon://status and the status at canon://_status, each listed once", async () => {
    a.ok("init");
    a.ok("space", "create", "named-status");
    a.ok(
      "publish",
      "status",
      await a.file("status.md", "# Status report\n\nWeekly, in bullets.\n"),
    );
    const client = await connect(a.dir, a.home);
    const uris = (await client.listResources()).resources.map((resource) => resource.uri);
    expect(uris).toEqual(expect.arrayContaining(["canon://status", "canon://_status"]));
    expect(new Set(uris).size).toBe(uris.length);
    const standard = await client.readResource({ uri: "canon://status" });
    expect(standard.contents[0]).toMatchObject({
      mimeType: "text/markdown",
      text: "# Status report\n\nWeekly, in bullets.\n",
    });
    const status = await client.readResource({ uri: "canon://_status" });
    expect(status.contents[0]).toMatchObject({ mimeType: "application/json" });
    expect(JSON.parse((status.contents[0] as { text: string }).text)).toBeTypeOf("object");
    // The server owns this home: it stops before the home is removed.
    await client.close();
  });

  it("starts before a space is joined, says why on canon://status, and serves once it is", async () => {
    const { url } = await sharedProject();
    const c = await sandbox();
    try {
      c.ok("init");
      const client = await connect(c.dir, c.home);
      const before = await client.listResources();
      expect(before.resources.map((resource) => resource.uri)).toEqual(["canon://status"]);
      await expect(client.readResource({ uri: "canon://status" })).rejects.toThrow(
        /no space yet.*canon space join/,
      );
      let listChanged = 0;
      client.setNotificationHandler(ResourceListChangedNotificationSchema, () => {
        listChanged += 1;
      });
      const did = c.ok("id", "--json").json<{ did: string }>().did;
      a.ok("member", "add", did, "--role", "reader");
      a.ok("sync");
      // Joined from another shell while the server runs: the server hears of it.
      const joined = await c.canonAsync("space", "join", url, "--relay", relay.url);
      expect(joined.status, joined.stderr).toBe(0);
      await until(() => listChanged > 0, "notifications/resources/list_changed");
      const after = await client.listResources();
      expect(after.resources.map((resource) => resource.uri)).toContain("canon://editorial-style");
      // The server owns this home: it stops before the home is removed.
      await client.close();
    } finally {
      await c.dispose();
    }
  });

  it("writes only JSON-RPC on stdout, hosts the home's owner, and notifies a subscriber of a CLI write routed through it", async () => {
    const { project } = await sharedProject();
    const child = spawn(process.execPath, [CANON_BIN, "mcp"], {
      cwd: project,
      env: { PATH: process.env.PATH ?? "", CANON_HOME: b.home, CANON_OWNER_TRACE: "1" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    children.push(child);
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const send = (message: unknown) =>
      child.stdin.write(`${typeof message === "string" ? message : JSON.stringify(message)}\n`);
    const answer = async (id: number) => {
      await until(
        () => lines.some((line) => (JSON.parse(line) as { id?: number }).id === id),
        `answer ${id}; stderr: ${stderr}`,
      );
      return JSON.parse(lines.find((line) => JSON.parse(line).id === id) as string) as {
        result?: unknown;
        error?: { code: number; message: string };
      };
    };
    send({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "raw", version: "1" },
      },
    });
    await answer(1);
    send({ jsonrpc: "2.0", method: "notifications/initialized" });
    send("this is not JSON");
    send({ id: 7, hello: "not JSON-RPC" });
    send(
      `{"jsonrpc":"2.0","id":8,"method":"resources/read","params":{"uri":"${"x".repeat(5 * 1024 * 1024)}"}}`,
    );
    send({ jsonrpc: "2.0", id: 2, method: "no/such/method" });
    expect((await answer(2)).error?.code).toBe(-32601);
    expect((await answer(7)).error?.code).toBe(-32600);
    const errors = lines.map((line) => JSON.parse(line)).filter((message) => message.id === null);
    expect(errors.map((message) => message.error.code)).toEqual([-32700, -32600]);
    expect(lines.some((line) => JSON.parse(line).id === 8)).toBe(false);
    send({
      jsonrpc: "2.0",
      id: 3,
      method: "resources/subscribe",
      params: { uri: "canon://editorial-style" },
    });
    expect((await answer(3)).result).toEqual({});

    // A CLI write from another shell runs in this server (the home's owner):
    // its output goes to that shell, and the subscriber hears of the change.
    await until(() => existsSync(join(b.home, "owner.sock")), "the owner socket");
    const routed = spawnSync(
      process.execPath,
      [CANON_BIN, "correct", "editorial-style", "Cite sources.", "--json"],
      {
        cwd: project,
        env: { PATH: process.env.PATH ?? "", CANON_HOME: b.home },
        encoding: "utf8",
      },
    );
    expect(routed.status, routed.stderr).toBe(0);
    expect(JSON.parse(routed.stdout)).toMatchObject({ standard: "editorial-style" });
    // It ran in the server's process (the owner traces each command it runs).
    await until(() => /^owner: correct ran/m.test(stderr), `the owner's trace; stderr: ${stderr}`);
    await until(
      () =>
        lines.some(
          (line) =>
            JSON.parse(line).method === "notifications/resources/updated" &&
            JSON.parse(line).params.uri === "canon://editorial-style",
        ),
      `the update notification; stderr: ${stderr}`,
    );
    send({
      jsonrpc: "2.0",
      id: 4,
      method: "resources/read",
      params: { uri: "canon://editorial-style" },
    });
    expect(JSON.stringify((await answer(4)).result)).toContain("Cite sources.");

    child.stdin.end();
    expect(await exited).toBe(0);
    expect(existsSync(join(b.home, "owner.sock"))).toBe(false);
    expect(lines.length).toBeGreaterThan(4);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ jsonrpc: "2.0" });
    expect(stderr).toMatch(/connected to ws:\/\/127\.0\.0\.1/);
  });

  it("answers every request a client sent before closing its end of stdin, then exits", async () => {
    const { project } = await sharedProject();
    const requests = [
      {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: "2025-06-18",
          capabilities: {},
          clientInfo: { name: "script", version: "1" },
        },
      },
      { jsonrpc: "2.0", method: "notifications/initialized" },
      {
        jsonrpc: "2.0",
        id: 2,
        method: "resources/read",
        params: { uri: "canon://editorial-style" },
      },
      {
        jsonrpc: "2.0",
        id: 3,
        method: "tools/call",
        params: { name: "canon_log", arguments: { standard: "editorial-style" } },
      },
      { jsonrpc: "2.0", id: 4, method: "resources/read", params: { uri: "canon://status" } },
      // Slow: it syncs with the relay first.
      {
        jsonrpc: "2.0",
        id: 5,
        method: "tools/call",
        params: { name: "canon_pull", arguments: {} },
      },
    ];
    // A script piping its requests in: stdin ends right after the last one.
    const run = spawnSync(process.execPath, [CANON_BIN, "mcp"], {
      cwd: project,
      env: { PATH: process.env.PATH ?? "", CANON_HOME: b.home, CANON_NO_OWNER: "1" },
      input: requests.map((request) => `${JSON.stringify(request)}\n`).join(""),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(run.status, run.stderr).toBe(0);
    const answers = run.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { id?: number; result?: unknown; error?: unknown });
    expect(answers.map((answer) => answer.id).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(answers.every((answer) => answer.error === undefined)).toBe(true);
    expect(JSON.stringify(answers.find((answer) => answer.id === 2))).toContain("Short sentences.");
  });

  it("--print-config prints each client's own format for this machine", async () => {
    const { project } = await sharedProject();
    const config = (client: string) =>
      JSON.parse(
        spawnSync(process.execPath, [CANON_BIN, "mcp", "--print-config", client], {
          cwd: project,
          env: { PATH: process.env.PATH ?? "", CANON_HOME: b.home },
          encoding: "utf8",
        }).stdout,
      );
    const server = {
      command: process.execPath,
      args: [CANON_BIN, "mcp", "--project", project],
      env: { CANON_HOME: b.home },
    };
    expect(config("claude-code")).toEqual({ mcpServers: { canon: { type: "stdio", ...server } } });
    expect(config("cursor")).toEqual({ mcpServers: { canon: server } });
    expect(config("vscode")).toEqual({ servers: { canon: { type: "stdio", ...server } } });
    const bad = b.canon("mcp", "--print-config", "emacs");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--print-config takes claude-code, cursor, vscode/);
  });
});
