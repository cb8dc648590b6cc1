// The README's demo: an owner publishes a standard, syncs it through a relay,
// an agent's machine joins and reads it offline (the relay stopped), writes an
// output and stamps it with the exact context it used; its operator records a
// correction with that output as evidence, which reaches the owner at the next
// sync and is in force in every agent's rendered context until the owner
// publishes a version that incorporates it; the agent can still pin the old
// version by CID, and an auditor verifies the output against the shared
// history and sees that its context has drifted. Then the workspace: the
// owner publishes a skill folder as one release (republishing unchanged bytes
// makes no version), the agent's project names what it uses in canon.json,
// `canon pull` writes it where tools read it and locks it, `canon status
// --check` says it is current; an auditor verifies from the output alone (the
// stamp is found in the agent's feed) and `canon agents` shows who works from
// which versions. Last, the agent's coding tool reads the same context over
// MCP (`canon mcp`) and hears of the owner's next release through the relay.
// Every step is a real `canon` process on temporary homes; the relay listens
// on 127.0.0.1 only.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const bin = resolve(import.meta.dirname, "../packages/cli/dist/canon.mjs");
const work = mkdtempSync(join(tmpdir(), "canon-demo-"));
const homes = { owner: join(work, "owner"), agent: join(work, "agent") };

function canon(who, ...args) {
  return canonIn(undefined, who, ...args);
}

/** Runs `canon` as `who` (in `cwd` when given), printing the command and its output. */
function canonIn(cwd, who, ...args) {
  process.stdout.write(
    `\n[${who}${cwd ? ` in ${cwd.slice(work.length + 1)}/` : ""}] $ canon ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(" ")}\n`,
  );
  const out = execFileSync(process.execPath, [bin, ...args], {
    env: { ...process.env, CANON_HOME: homes[who] },
    encoding: "utf8",
    cwd,
  });
  process.stdout.write(out);
  return out;
}

async function startRelay() {
  const relay = spawn(
    process.execPath,
    [bin, "relay", "--port", "0", "--data", join(work, "relay"), "--token", "demo-token", "--json"],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const line = await new Promise((done) =>
    createInterface({ input: relay.stdout }).once("line", done),
  );
  return { relay, url: JSON.parse(line).url };
}

/** A short MCP session: list, read, subscribe, and hear of the owner's next release through the relay. */
async function mcpSession(project, style) {
  const client = new Client({ name: "canon-demo", version: "1.0.0" });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [bin, "mcp"],
      cwd: project,
      env: { PATH: process.env.PATH ?? "", CANON_HOME: homes.agent },
      stderr: "ignore",
    }),
  );
  try {
    const { resources } = await client.listResources();
    for (const resource of resources)
      console.log(`  resource  ${resource.uri.padEnd(44)} ${resource.title ?? ""}`);
    const { tools } = await client.listTools();
    console.log(`  tools     ${tools.map((tool) => tool.name).join(", ")}`);
    const read = await client.readResource({ uri: "canon://editorial-style" });
    console.log(`  read canon://editorial-style:\n${read.contents[0].text.replace(/^/gm, "    ")}`);
    let notified;
    const heard = new Promise((done) => {
      notified = done;
    });
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => {
      if (notification.params.uri === "canon://editorial-style") notified();
    });
    await client.subscribeResource({ uri: "canon://editorial-style" });
    console.log("  subscribed to canon://editorial-style; the owner publishes v3 and syncs:");
    writeFileSync(style, `${readFileSync(style, "utf8")}- Cite every figure.\n`);
    canon("owner", "publish", "editorial-style", style, "-m", "cite figures");
    canon("owner", "sync");
    await heard;
    console.log(
      "  notifications/resources/updated canon://editorial-style (how soon: bench/mcp.mjs, docs/benchmarks.md)",
    );
    const status = await client.callTool({ name: "canon_status", arguments: {} });
    console.log(
      `  canon_status: ${status.structuredContent.standards.map((entry) => `${entry.standard} ${entry.state}`).join(", ")}`,
    );
  } finally {
    await client.close();
  }
}

let relay;
try {
  console.log(`Canon demo (temporary homes in ${work})`);
  canon("owner", "init");
  const { url: space } = JSON.parse(canon("owner", "space", "create", "the publication", "--json"));
  const style = join(work, "editorial-style.md");
  const skill = resolve(
    import.meta.dirname,
    "../test/fixtures/public-context/repo/.claude/skills/house-style",
  );
  writeFileSync(style, "# Editorial style\n\n- Practitioner tone.\n- Short paragraphs.\n");
  const v1 = JSON.parse(
    canon("owner", "publish", "editorial-style", style, "-m", "first version", "--json"),
  );

  const started = await startRelay();
  relay = started.relay;
  console.log(`\n# A relay is running at ${started.url} (token required). The owner syncs:`);
  canon("owner", "sync", "--relay", started.url, "--token", "demo-token");

  console.log("\n# An agent's machine joins the space through the relay:");
  const agentDid = JSON.parse(canon("agent", "init", "--json")).did;
  canon("owner", "member", "add", agentDid, "--role", "contributor");
  canon("owner", "sync");
  canon("agent", "space", "join", space, "--relay", started.url, "--token", "demo-token");

  relay.kill("SIGTERM");
  relay = undefined;
  console.log(
    "\n# The relay is stopped. The agent reads its context offline, from its local replica:",
  );
  canon("agent", "show", "editorial-style");
  canon("agent", "ls");
  console.log("\n# The agent writes an output with that context and stamps it, still offline:");
  const article = join(work, "article.md");
  writeFileSync(article, "# Launch notes\n\nShort paragraphs, practitioner tone.\n");
  canon("agent", "stamp", article, "--standard", "editorial-style");

  console.log(
    "\n# The agent's operator spots a mistake and records the lesson, with the output as evidence (offline too):",
  );
  const lesson = JSON.parse(
    canon(
      "agent",
      "correct",
      "editorial-style",
      "No inline code formatting in non-technical articles.",
      "--evidence",
      article,
      "--json",
    ),
  );
  canon("agent", "show", "editorial-style", "--rendered");

  const again = await startRelay();
  relay = again.relay;
  console.log(
    "\n# The relay is back (new port). Both sync; the lesson reaches the owner, in force for every agent:",
  );
  canon("agent", "sync", "--relay", again.url, "--token", "demo-token", "--remember");
  canon("owner", "sync", "--relay", again.url, "--token", "demo-token", "--remember");
  canon("owner", "corrections", "editorial-style");

  console.log("\n# The owner folds the lesson into the standard itself: v2 incorporates it.");
  writeFileSync(
    style,
    "# Editorial style\n\n- Practitioner tone.\n- Short paragraphs.\n- No inline code in non-technical articles.\n",
  );
  canon(
    "owner",
    "publish",
    "editorial-style",
    style,
    "-m",
    "lesson learned: no inline code outside technical pieces",
    "--incorporates",
    lesson.cid,
  );
  console.log(
    "\n# Publishing the same bytes again makes no version; a skill folder is one release (a bundle):",
  );
  canon("owner", "publish", "editorial-style", style);
  canon("owner", "publish", "skills/house-style", skill, "-m", "our house style skill");
  canon("owner", "show", "skills/house-style");
  canon("owner", "sync");
  console.log("\n# The agent syncs: v2, the correction closed, and v1 still pinned by its CID:");
  canon("agent", "sync");
  canon("agent", "show", "editorial-style", "--rendered");
  canon("agent", "corrections", "editorial-style", "--all");
  canon("agent", "show", `editorial-style@${v1.cid}`);
  canon("agent", "log", "editorial-style");
  console.log(
    "\n# An auditor (here the owner's machine) verifies the output against the shared history:",
  );
  canon("owner", "verify", article);

  console.log(
    "\n# The agent's project names the context it uses; pull writes it where its tools read it, and locks it:",
  );
  const project = join(work, "agent-project");
  mkdirSync(project);
  canonIn(project, "agent", "add", "editorial-style", "--as", "agents-md");
  canonIn(project, "agent", "add", "skills/house-style");
  canonIn(project, "agent", "pull");
  canonIn(project, "agent", "status", "--check");
  process.stdout.write(
    `\n--- agent-project/AGENTS.md ---\n${readFileSync(join(project, "AGENTS.md"), "utf8")}`,
  );

  console.log(
    "\n# An auditor with nothing but the output's bytes: the stamp is found in the agent's feed.",
  );
  const copy = join(work, "received-article.md");
  writeFileSync(copy, readFileSync(article));
  canon("owner", "verify", copy);
  canon("owner", "agents");

  console.log(
    "\n# The agent's coding tool speaks MCP: `canon mcp` in the project, here with the MCP SDK's own client:",
  );
  await mcpSession(project, style);
  console.log(
    `\nThe content CID's digest is the file's sha256sum: anyone can check ${v1.cid} without Canon.`,
  );
} finally {
  relay?.kill("SIGTERM");
  await new Promise((done) => setTimeout(done, 300));
  rmSync(work, { recursive: true, force: true });
}
