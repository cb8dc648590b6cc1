import { describe, expect, it } from "vitest";
import type { Sandbox } from "./helpers/cli.js";
import { startCanon, startRelay } from "./helpers/processes.js";
import { twoHomesEachTest } from "./helpers/two-homes.js";

let a: Sandbox;
let b: Sandbox;
let relayData: string;
twoHomesEachTest((homes) => ({ a, b, relayData } = homes));

interface Rendered {
  content: string;
  renderedCid: string;
  corrections: string[];
  version: number;
}
interface Log {
  open: number;
  corrections: { cid: string; state: string; evidence: string | null; author: string }[];
}
interface Verdict {
  verified: boolean;
  missedCorrections: { cid: string }[];
  context: { renderedCid?: string }[];
}

const LESSON = "No inline code formatting in non-technical articles.";

/**
 * Owner A (maintainer) and owner B (maintainer) share a space through a real
 * relay; each has an agent identity (a contributor) on their own machine.
 */
async function twoOwnersWithAgents() {
  const relay = await startRelay(relayData);
  a.ok("init");
  const bDid = b.ok("init", "--json").json<{ did: string }>().did;
  const { url } = a.ok("space", "create", "the publication", "--json").json<{ url: string }>();
  a.ok("member", "add", bDid, "--role", "maintainer");
  const agentA = a.ok("id", "new", "--name", "agent", "--json").json<{ did: string }>().did;
  a.ok("member", "add", agentA, "--role", "contributor");
  const agentB = b.ok("id", "new", "--name", "agent", "--json").json<{ did: string }>().did;
  a.ok("member", "add", agentB, "--role", "contributor");
  a.ok("publish", "editorial", await a.file("style.md", "# Editorial style\nWrite plainly.\n"));
  a.ok("sync", "--relay", relay.url);
  b.ok("space", "join", url, "--relay", relay.url);
  return { relay };
}

describe("correction logs (real processes, a real relay on 127.0.0.1)", () => {
  it("a lesson one operator gives reaches the other owner's agent at its next sync and lands in the standard", async () => {
    await twoOwnersWithAgents();
    // Both agents read the same standard; A's agent writes an output and stamps it.
    expect(a.ok("show", "editorial", "--rendered").stdout).toBe(
      b.ok("show", "editorial", "--rendered").stdout,
    );
    const before = await a.file("before.md", "An article with `inline code`.\n");
    a.ok("stamp", before, "--standard", "editorial", "--as", "agent");

    // A's operator corrects A's agent, with that output as evidence.
    const corrected = a
      .ok("correct", "editorial", LESSON, "--evidence", before, "--as", "agent", "--json")
      .json<{ cid: string; evidence: string }>();
    const stampOfBefore = a.ok("verify", before, "--json").json<{ stamp: { cid: string } }>();
    expect(corrected.evidence).toBe(stampOfBefore.stamp.cid);
    a.ok("sync");

    // B syncs: B's rendered context lists it; B's next stamp covers it.
    b.ok("sync");
    const renderedB = b.ok("show", "editorial", "--rendered", "--json").json<Rendered>();
    expect(renderedB.content).toContain(LESSON);
    expect(renderedB.corrections).toEqual([corrected.cid]);
    const logB = b.ok("corrections", "editorial", "--json").json<Log>();
    expect(logB.corrections).toEqual([
      expect.objectContaining({
        cid: corrected.cid,
        state: "open",
        evidence: stampOfBefore.stamp.cid,
      }),
    ]);
    const after = await b.file("after.md", "An article in plain prose.\n");
    const stampedB = b
      .ok("stamp", after, "--standard", "editorial", "--as", "agent", "--json")
      .json<{ corrections: string[]; context: { renderedCid: string }[] }>();
    expect(stampedB.corrections).toEqual([corrected.cid]);
    expect(stampedB.context[0]?.renderedCid).toBe(renderedB.renderedCid);

    // A stamp made before the correction existed does not count it as missed, on either replica.
    for (const auditor of [a, b]) {
      const verdict = auditor.ok("verify", before, "--json").json<Verdict>();
      expect(verdict.verified).toBe(true);
      expect(verdict.missedCorrections).toEqual([]);
    }

    // A maintainer publishes v2 incorporating it; both sync; it is closed everywhere.
    b.ok(
      "publish",
      "editorial",
      await b.file("style2.md", `# Editorial style\nWrite plainly. ${LESSON}\n`),
      "--incorporates",
      corrected.cid,
    );
    b.ok("sync");
    a.ok("sync");
    for (const owner of [a, b]) {
      const log = owner.ok("corrections", "editorial", "--all", "--json").json<Log>();
      expect(log.open).toBe(0);
      expect(log.corrections).toEqual([
        expect.objectContaining({ cid: corrected.cid, state: "incorporated" }),
      ]);
      const v2 = owner.ok("show", "editorial", "--rendered", "--json").json<Rendered>();
      expect(v2.version).toBe(2);
      expect(v2.corrections).toEqual([]);
      expect(v2.content).toBe(`# Editorial style\nWrite plainly. ${LESSON}\n`);
    }
  });

  it("a stamp made after a correction existed, from a replica that had not synced it, reports it missed and says which", async () => {
    await twoOwnersWithAgents();
    const lesson = a.ok("correct", "editorial", LESSON, "--json").json<{ cid: string }>().cid;
    // B's agent works before B syncs: its context cannot include the lesson.
    const output = await b.file("out.md", "Written from a replica that had not synced.\n");
    const stamped = b
      .ok("stamp", output, "--standard", "editorial", "--as", "agent", "--json")
      .json<{ corrections: string[] }>();
    expect(stamped.corrections).toEqual([]);
    a.ok("sync");
    b.ok("sync");
    const verdict = b.ok("verify", output, "--json").json<Verdict>();
    expect(verdict.verified).toBe(true);
    expect(verdict.missedCorrections).toEqual([expect.objectContaining({ cid: lesson })]);
    expect(b.ok("verify", output).stdout).toContain(lesson);
  });

  it("corrections made offline by two owners at once all survive the merge, in the same order on both", async () => {
    const { relay } = await twoOwnersWithAgents();
    expect(await relay.stop("SIGTERM")).toBe(0);
    a.ok("correct", "editorial", "A's lesson.", "--as", "agent");
    b.ok("correct", "editorial", "B's lesson.", "--as", "agent");
    // A concurrently publishes v2 incorporating A's own lesson.
    const aLesson = a.ok("corrections", "editorial", "--json").json<Log>().corrections[0]
      ?.cid as string;
    a.ok("publish", "editorial", await a.file("v2.md", "v2\n"), "--incorporates", aLesson);
    const restarted = await startRelay(relayData);
    a.ok("sync", "--relay", restarted.url);
    b.ok("sync", "--relay", restarted.url);
    a.ok("sync", "--relay", restarted.url);
    const logA = a.ok("corrections", "editorial", "--all", "--json").json<Log>();
    const logB = b.ok("corrections", "editorial", "--all", "--json").json<Log>();
    expect(logA.corrections.map((c) => c.cid)).toEqual(logB.corrections.map((c) => c.cid));
    expect(logA.corrections.map((c) => c.state).sort()).toEqual(["incorporated", "open"]);
    expect(a.ok("show", "editorial", "--rendered").stdout).toBe(
      b.ok("show", "editorial", "--rendered").stdout,
    );
    expect(b.ok("show", "editorial", "--rendered").stdout).toContain("B's lesson.");
  });

  it("watch prints a correction as it arrives, one JSON object per line", async () => {
    const { relay } = await twoOwnersWithAgents();
    const watcher = startCanon(["watch", "--relay", relay.url, "--json"], b.home);
    await watcher.waitForLine((line) => line.includes('"connected"'));
    a.ok("correct", "editorial", LESSON);
    a.ok("sync");
    const line = await watcher.waitForLine((l) => l.includes("canon/correction"));
    expect(JSON.parse(line)).toMatchObject({
      event: "record",
      record: { type: "canon/correction", standard: "editorial", text: LESSON },
    });
    expect(await watcher.stop()).toBe(0);
  });

  it("refuses bad input with one line, the documented status, and writes nothing", async () => {
    await twoOwnersWithAgents();
    const reader = a.ok("id", "new", "--name", "reader", "--json").json<{ did: string }>().did;
    a.ok("member", "add", reader, "--role", "reader");
    const count = () =>
      a.ok("corrections", "editorial", "--all", "--json").json<Log>().corrections.length;
    const cases: [string[], number, RegExp][] = [
      [["correct", "editorial", ""], 2, /needs text/],
      [["correct", "editorial", "x".repeat(16_385)], 2, /limit is 16384/],
      [["correct", "nope", "x"], 3, /no standard "nope"/],
      [
        ["correct", "editorial", "x", "--evidence", "missing.md"],
        2,
        /neither an output file nor a record CID/,
      ],
      [
        [
          "correct",
          "editorial",
          "x",
          "--evidence",
          "bafyreigxyqy2r3wp5h2a3s6jlla7b5rai36m7idtmlhuhvr3lgbpsy26gy",
        ],
        3,
        /not a record of this space/,
      ],
      [["correct", "editorial", "x", "--as", "reader"], 6, /needs contributor or maintainer/],
      [["correct"], 2, /give the standard/],
    ];
    for (const [args, status, message] of cases) {
      const run = a.canon(...args);
      expect({ args: args.slice(0, 3), status: run.status }).toEqual({
        args: args.slice(0, 3),
        status,
      });
      expect(run.stderr).toMatch(message);
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
    }
    expect(count()).toBe(0);

    // Withdrawing: not someone else's without the role; not twice.
    const lesson = a
      .ok("correct", "editorial", "A lesson.", "--as", "agent", "--json")
      .json<{ cid: string }>().cid;
    a.ok("id", "new", "--name", "other");
    const otherDid = a.ok("id", "--as", "other", "--json").json<{ did: string }>().did;
    a.ok("member", "add", otherDid, "--role", "contributor");
    const refused = a.canon("correct", "--withdraw", lesson, "--as", "other");
    expect(refused.status).toBe(6);
    a.ok("correct", "--withdraw", lesson, "--as", "agent");
    expect(a.canon("correct", "--withdraw", lesson).status).toBe(2);
    // Incorporating an unknown or closed id.
    const v2 = await a.file("v2.md", "v2\n");
    expect(a.canon("publish", "editorial", v2, "--incorporates", lesson).status).toBe(2);
    expect(
      a.canon(
        "publish",
        "editorial",
        v2,
        "--incorporates",
        "bafyreigxyqy2r3wp5h2a3s6jlla7b5rai36m7idtmlhuhvr3lgbpsy26gy",
      ).status,
    ).toBe(3);
    expect(a.canon("publish", "editorial", v2, "--incorporates", "not-a-cid").status).toBe(2);
    expect(
      a.ok("log", "editorial", "--json").json<{ releases: unknown[] }>().releases,
    ).toHaveLength(1);
    expect(
      a
        .ok("corrections", "editorial", "--all", "--json")
        .json<Log>()
        .corrections.map((c) => c.state),
    ).toEqual(["withdrawn"]);
  });
});
