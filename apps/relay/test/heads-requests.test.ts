import { describe, expect, it } from "vitest";
import { HeadsRequests } from "../src/guard/heads-requests.js";

// One address must not hold every place in the heads summaries' line: it may
// have 16 running or waiting at once; past that it is refused at once (503),
// whoever else is waiting, and other addresses still get in.

/** Work that runs until `release` is called. */
function held(): { work: () => Promise<string>; release: () => void; started: () => boolean } {
  let release = () => {};
  let started = false;
  const done = new Promise<string>((resolve) => {
    release = () => resolve("answered");
  });
  return {
    work: () => {
      started = true;
      return done;
    },
    release: () => release(),
    started: () => started,
  };
}

describe("HeadsRequests: places per address", () => {
  it("gives one address 16 places at once (running or waiting), refuses its 17th busy without drawing on its budget, and lets others in", async () => {
    const requests = new HeadsRequests(1_000);
    const works = Array.from({ length: 16 }, held);
    const answers = works.map(({ work }) => requests.run("203.0.113.1", work));
    await new Promise((resolve) => setImmediate(resolve));
    // Four run, twelve wait: all sixteen hold a place.
    expect(works.filter(({ started }) => started())).toHaveLength(4);
    expect(await requests.run("203.0.113.1", async () => "answered")).toBe("busy");
    // The same /64 is the same client.
    const other = held();
    const sameSubnet = requests.run("2001:db8:1:2::1", other.work);
    const crowd = Array.from({ length: 16 }, held);
    const crowded = crowd.map(({ work }, index) =>
      requests.run(`2001:db8:1:2::${(index + 2).toString(16)}`, work),
    );
    expect(await crowded.at(-1)).toBe("busy");
    // Another address is let in line, and answered once turns free up.
    const answered = requests.run("198.51.100.7", async () => "answered");
    for (const { release } of [...works, other, ...crowd]) release();
    expect(await answered).toBe("answered");
    expect(await Promise.all(answers)).toEqual(Array(16).fill("answered"));
    expect(await sameSubnet).toBe("answered");
    // Its places given back, the address is let in again.
    expect(await requests.run("203.0.113.1", async () => "answered")).toBe("answered");
    await Promise.all(crowded);
  });
});
