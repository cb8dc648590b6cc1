import { describe, expect, it } from "vitest";
import {
  createSpace,
  joinSpace,
  useFreshnessScene,
  withholdFromStandards,
} from "./helpers/freshness-scene.js";
import { startCanon, startRelay } from "./helpers/processes.js";

const scene = useFreshnessScene();

interface Listing {
  standards: { standard: string; version: number }[];
  freshness: { status: string; missing: string[]; checkpoint: { cid: string } | null };
}

describe("freshness you can prove (checkpoints, a real relay on 127.0.0.1)", () => {
  it("a maintainer's sync signs a checkpoint; a newcomer whose relay withholds the latest release is told its view is incomplete", async () => {
    const { owner, newcomer } = scene;
    const relay = await startRelay(scene.relayData);
    const url = createSpace(owner, "shared");
    owner.ok("publish", "style", await owner.file("v1.md", "v1\n"));
    const v2 = owner
      .ok("publish", "style", await owner.file("v2.md", "v2\n"), "--json")
      .json<{ release: string }>();
    owner.ok("sync", "--relay", relay.url);
    // The owner's sync signed a checkpoint naming v2.
    const ownView = owner.ok("ls", "--json").json<Listing>();
    expect(ownView.freshness).toMatchObject({ status: "fresh", missing: [] });
    expect(ownView.freshness.checkpoint).not.toBeNull();

    // A hostile peer (or a relay serving an older state) withholds v2 from newcomers.
    await withholdFromStandards(relay.url, url, [v2.release]);
    joinSpace(newcomer, url, relay.url);
    const view = newcomer.ok("ls", "--json").json<Listing>();
    expect(view.standards).toEqual([expect.objectContaining({ standard: "style", version: 1 })]);
    expect(view.freshness).toMatchObject({ status: "incomplete", missing: [v2.release] });
    expect(newcomer.ok("ls").stdout).toMatch(/INCOMPLETE: the checkpoint of .* names 1 record/);
    const strict = newcomer.canon("ls", "--require-fresh");
    expect(strict.status).toBe(8);
    expect(strict.stderr).toMatch(/not proven fresh/);
    // The agent's read says so too: the exact bytes on stdout, the warning on stderr.
    const shown = newcomer.canon("show", "style");
    expect(shown.status).toBe(0);
    expect(shown.stdout).toBe("v1\n");
    expect(shown.stderr).toMatch(/warning: INCOMPLETE/);
    expect(newcomer.ok("show", "style", "--json").json<Listing>().freshness.status).toBe(
      "incomplete",
    );
    expect(newcomer.canon("show", "style", "--require-fresh").status).toBe(8);

    // The owner's next sync writes v2 back; the newcomer's view is complete again.
    owner.ok("sync");
    newcomer.ok("sync");
    expect(newcomer.ok("ls", "--json").json<Listing>().freshness.status).toBe("fresh");
    expect(newcomer.canon("ls", "--require-fresh").status).toBe(0);
    const fresh = newcomer.canon("show", "style", "--require-fresh");
    expect(fresh.status).toBe(0);
    expect(fresh.stdout).toBe("v2\n");
    expect(fresh.stderr).toBe("");
  });

  it("a maintainer's running watch signs a checkpoint when a release arrives", async () => {
    const { owner, newcomer } = scene;
    const relay = await startRelay(scene.relayData);
    const url = createSpace(owner, "shared");
    const ownerDid = owner.ok("id", "--json").json<{ did: string }>().did;
    const otherDid = newcomer.ok("init", "--json").json<{ did: string }>().did;
    owner.ok("member", "add", otherDid, "--role", "maintainer");
    owner.ok("publish", "style", await owner.file("v1.md", "v1\n"));
    owner.ok("sync", "--relay", relay.url);
    newcomer.ok("space", "join", url, "--relay", relay.url);
    // The other maintainer publishes and syncs first: its sync signs its own
    // checkpoint naming v2. The owner's watch then receives v2 and, its own
    // checkpoint naming only v1, signs a newer one. (With the watch already
    // running, which of the two checkpoints is newer was a race: the
    // other's sync signs after its exchange, which the watch may beat.)
    const v2 = newcomer
      .ok("publish", "style", await newcomer.file("v2.md", "v2\n"), "--json")
      .json<{ release: string }>();
    newcomer.ok("sync");
    const watcher = startCanon(["watch", "--json"], owner.home);
    await watcher.waitForLine((line) => line.includes(v2.release));
    // The owner's watch signs a checkpoint naming v2; the other maintainer receives it.
    const deadline = Date.now() + 20_000;
    let author: string | undefined;
    while (Date.now() < deadline) {
      newcomer.ok("sync");
      const freshness = newcomer.ok("ls", "--json").json<Listing>().freshness as {
        checkpoint: { author: string; createdAt: string } | null;
      };
      author = freshness.checkpoint?.author;
      if (author === ownerDid) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(author).toBe(ownerDid);
    expect(await watcher.stop()).toBe(0);
  });

  it("a view whose newest checkpoint expired says it may be frozen; the expiry is a signed space setting", async () => {
    const { owner } = scene;
    createSpace(owner, "shared");
    owner.ok("publish", "style", await owner.file("v1.md", "v1\n"));
    owner.ok("space", "settings", "--checkpoint-expiry", "60s");
    const signed = owner.ok("checkpoint", "--json").json<{ createdAt: string; expires: string }>();
    expect(Date.parse(signed.expires) - Date.parse(signed.createdAt)).toBe(60_000);
    const fresh = owner.ok("ls", "--json").json<Listing>();
    expect(fresh.freshness.status).toBe("fresh");
    expect(owner.canon("space", "settings", "--checkpoint-expiry", "10s").status).toBe(2);
    // A clock cannot be moved across processes: sign checkpoints whose expiry has passed instead.
    const { signRecord } = await import("../packages/core/dist/index.js");
    const store = await import("../packages/store/dist/index.js");
    const home = store.canonHome(owner.home);
    const signer = await store.loadIdentity(home, store.DEFAULT_IDENTITY);
    /** Signs a checkpoint of the space now, dated `ageMs` ago and expired `expiredMs` ago. */
    const signExpired = (ageMs: number, expiredMs: number) =>
      store.withSpace(home, {}, async ({ replica, folded, state }) => {
        const signed = await signRecord(signer.keyPair, {
          type: "canon/checkpoint",
          v: 1,
          space: state.genesis.cid,
          standards: [...state.standards.values()].map((s) => ({
            standard: s.name,
            heads: s.heads.map((h) => h.cid),
          })),
          expires: new Date(Date.now() - expiredMs).toISOString(),
          membership: [...state.membershipHeads],
          author: signer.keyPair.did,
          createdAt: new Date(Date.now() - ageMs).toISOString(),
        });
        replica.appendRecord(folded.space, signed);
      });
    await signExpired(2000, 1000);
    // That checkpoint is older than the fresh one: the newest still counts.
    expect(owner.ok("ls", "--json").json<Listing>().freshness.status).toBe("fresh");
    await signExpired(1, 1);
    expect(owner.ok("ls", "--json").json<Listing>().freshness.status).toBe("expired");
    expect(owner.ok("ls").stdout).toMatch(/EXPIRED: .* may be frozen/);
    expect(owner.canon("ls", "--require-fresh").status).toBe(8);
  });
});
