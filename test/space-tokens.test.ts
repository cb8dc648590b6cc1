import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { startRelay, stopAll } from "./helpers/processes.js";

const ADMIN = "admin-token-0123456789abcdef";
const ALPHA_WRITE = "alpha-write-0123456789abcdef";
const ALPHA_READ = "alpha-read-0123456789abcdef";
const BETA_WRITE = "beta-write-0123456789abcdef";

let alpha: Sandbox;
let beta: Sandbox;
let agent: Sandbox;
let directory: string;
beforeEach(async () => {
  alpha = await sandbox();
  beta = await sandbox();
  agent = await sandbox();
  directory = await mkdtemp(join(tmpdir(), "canon-space-tokens-"));
});
afterEach(async () => {
  await stopAll();
  for (const box of [alpha, beta, agent]) await box.dispose();
  await rm(directory, { recursive: true, force: true });
});

/** The space document id of a space URL `canon:<document-id>/<genesis-cid>`. */
function documentIdOf(url: string): string {
  return url.slice("canon:".length).split("/")[0] ?? "";
}

/** Two teams' spaces, each with one release, and a relay whose tokens file gives each team its own tokens. */
async function twoTeams(options: { alphaMaintainer?: Sandbox } = {}) {
  alpha.ok("init");
  beta.ok("init");
  const alphaUrl = alpha.ok("space", "create", "alpha", "--json").json<{ url: string }>().url;
  const betaUrl = beta.ok("space", "create", "beta", "--json").json<{ url: string }>().url;
  if (options.alphaMaintainer) {
    const did = options.alphaMaintainer.ok("init", "--json").json<{ did: string }>().did;
    alpha.ok("member", "add", did, "--role", "maintainer");
  }
  alpha.ok("publish", "style", await alpha.file("a.md", "alpha v1\n"));
  beta.ok("publish", "secret", await beta.file("b.md", "beta only\n"));
  const tokensFile = join(directory, "tokens.json");
  await writeFile(
    tokensFile,
    JSON.stringify({
      spaces: {
        [documentIdOf(alphaUrl)]: { write: [ALPHA_WRITE], read: [ALPHA_READ] },
        [documentIdOf(betaUrl)]: { write: [BETA_WRITE] },
      },
    }),
  );
  const relay = await startRelay(join(directory, "relay"), { token: ADMIN, tokens: tokensFile });
  alpha.ok("sync", "--relay", relay.url, "--token", ALPHA_WRITE, "--remember");
  beta.ok("sync", "--relay", relay.url, "--token", BETA_WRITE, "--remember");
  return { relay, alphaUrl, betaUrl };
}

describe("tokens per space on a relay (real processes on 127.0.0.1)", () => {
  it("a team's token opens its own space only; the admin token opens both", async () => {
    const { relay, alphaUrl, betaUrl } = await twoTeams();

    // Team alpha's write token, and its read token, on team beta's space.
    for (const token of [ALPHA_WRITE, ALPHA_READ]) {
      const refused = agent.canon("space", "join", betaUrl, "--relay", relay.url, "--token", token);
      expect(refused.status).toBe(5);
      expect(refused.stderr).toMatch(/relay .* refused this token: space \S+ is not this token's/);
    }
    expect(agent.canon("show", "secret").status).toBe(3);
    // The heads summary is refused the same way: another space's is not found, its own lists its documents.
    const heads = (space: string, token: string) =>
      fetch(`http://127.0.0.1:${relay.port}/heads/${documentIdOf(space)}?token=${token}`);
    expect((await heads(betaUrl, ALPHA_WRITE)).status).toBe(404);
    expect((await heads(betaUrl, ALPHA_READ)).status).toBe(404);
    const own = (await (await heads(alphaUrl, ALPHA_READ)).json()) as {
      documents: Record<string, string[]>;
    };
    expect(Object.keys(own.documents)).toHaveLength(2);
    expect((await heads(betaUrl, ADMIN)).status).toBe(200);

    // Its own space works, and so does a sync with the remembered token.
    agent.ok("space", "join", alphaUrl, "--relay", relay.url, "--token", ALPHA_READ);
    expect(agent.ok("show", "style", "--json").json<{ content: string }>().content).toBe(
      "alpha v1\n",
    );
    // Asking for the other space's documents by name on a live connection is refused too.
    const crossSync = agent.canon(
      "sync",
      "--space",
      "alpha",
      "--relay",
      relay.url,
      "--token",
      BETA_WRITE,
    );
    expect(crossSync.status).toBe(5);

    const admin = await sandbox();
    try {
      admin.ok("space", "join", betaUrl, "--relay", relay.url, "--token", ADMIN);
      admin.ok("space", "join", alphaUrl, "--relay", relay.url, "--token", ADMIN);
      expect(
        admin.ok("show", "secret", "--space", "beta", "--json").json<{ content: string }>(),
      ).toMatchObject({
        content: "beta only\n",
      });
    } finally {
      await admin.dispose();
    }
    // No token at all, or a wrong one: refused at the door as before.
    expect(
      agent.canon("sync", "--relay", relay.url, "--token", "wrong-token-0123456789").status,
    ).toBe(5);
  });

  it("a read-only token reads but cannot put a release on the relay", async () => {
    const maintainer = await sandbox();
    try {
      const { relay, alphaUrl } = await twoTeams({ alphaMaintainer: maintainer });
      // A maintainer of alpha who holds only the read token.
      maintainer.ok("space", "join", alphaUrl, "--relay", relay.url, "--token", ALPHA_READ);
      maintainer.ok("publish", "style", await maintainer.file("a2.md", "alpha v2\n"));
      const pushed = maintainer.canon("sync");
      expect(pushed.status).toBe(5);
      expect(pushed.stderr).toMatch(/refused this token: read-only token: changes to \S+ refused/);

      // Another reader, and the writer, never see v2.
      agent.ok("space", "join", alphaUrl, "--relay", relay.url, "--token", ALPHA_READ);
      expect(agent.ok("show", "style", "--json").json<{ content: string }>().content).toBe(
        "alpha v1\n",
      );
      alpha.ok("sync");
      expect(alpha.ok("show", "style", "--json").json<{ content: string }>().content).toBe(
        "alpha v1\n",
      );

      // The write token publishes, and the reader then reads it.
      alpha.ok("publish", "style", await alpha.file("a3.md", "alpha v3\n"));
      alpha.ok("sync");
      agent.ok("sync");
      expect(agent.ok("show", "style", "--json").json<{ content: string }>().content).toBe(
        "alpha v3\n",
      );
    } finally {
      await maintainer.dispose();
    }
  });
});

describe("canon space ls and relay tokens", () => {
  it("prints tokens only with --json --show-tokens", async () => {
    alpha.ok("init");
    alpha.ok("space", "create", "alpha");
    const relay = await startRelay(join(directory, "relay"), { token: ADMIN });
    alpha.ok("sync", "--relay", relay.url, "--token", ADMIN, "--remember");
    type Listing = {
      spaces: { relays: { url: string; token: string | null; hasToken: boolean }[] }[];
    };
    const hidden = alpha.ok("space", "ls", "--json");
    expect(hidden.stdout).not.toContain(ADMIN);
    expect(hidden.json<Listing>().spaces[0]?.relays).toEqual([
      { url: relay.url, token: null, hasToken: true },
    ]);
    expect(alpha.ok("space", "ls").stdout).not.toContain(ADMIN);
    expect(alpha.ok("space", "ls", "--show-tokens").stdout).not.toContain(ADMIN);
    const shown = alpha.ok("space", "ls", "--json", "--show-tokens").json<Listing>();
    expect(shown.spaces[0]?.relays[0]?.token).toBe(ADMIN);
  });
});
