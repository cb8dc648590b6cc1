import { describe, expect, it } from "vitest";
import { CommandQueue } from "../src/owner/command-queue.js";

describe("the owner's command queue", () => {
  it("runs jobs one after the other, and a job that fails does not stop the ones after it", async () => {
    const failures: unknown[] = [];
    const queue = new CommandQueue((error) => failures.push(error));
    const ran: string[] = [];
    let release = () => {};
    const first = new Promise<void>((resolve) => {
      release = resolve;
    });
    queue.add(async () => {
      await first;
      ran.push("first");
    });
    queue.add(async () => {
      ran.push("second");
      throw new Error("the home lock could not be taken");
    });
    queue.add(async () => {
      ran.push("third");
    });
    // Nothing after the first runs before it ends.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ran).toEqual([]);
    release();
    await queue.settled();
    expect(ran).toEqual(["first", "second", "third"]);
    expect(failures.map((error) => (error as Error).message)).toEqual([
      "the home lock could not be taken",
    ]);
    // Still usable, and settled() never rejects.
    queue.add(async () => {
      ran.push("fourth");
    });
    await expect(queue.settled()).resolves.toBeUndefined();
    expect(ran.at(-1)).toBe("fourth");
  });
});
