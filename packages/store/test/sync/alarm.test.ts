import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Alarm, pause } from "../../src/sync/alarm.js";

/** Whether a promise has settled, without advancing the (fake) clock: only pending microtasks run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => {
    done = true;
  });
  for (let tick = 0; tick < 10; tick++) await Promise.resolve();
  return done;
}

describe("Alarm", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("waits the whole timeout when nothing rings", async () => {
    const waiting = new Alarm().wait(1_000);
    await vi.advanceTimersByTimeAsync(999);
    expect(await settled(waiting)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled(waiting)).toBe(true);
  });

  it("wakes a wait as soon as it rings, and leaves no timer behind", async () => {
    const alarm = new Alarm();
    const waiting = alarm.wait(60_000);
    expect(await settled(waiting)).toBe(false);
    alarm.ring();
    expect(await settled(waiting)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps a ring that came before the wait: that wait returns at once, the next one waits again", async () => {
    const alarm = new Alarm();
    alarm.ring();
    alarm.ring();
    expect(await settled(alarm.wait(60_000))).toBe(true);
    expect(vi.getTimerCount()).toBe(0);

    const next = alarm.wait(1_000);
    expect(await settled(next)).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await settled(next)).toBe(true);
  });

  it("forgets a ring once a wait has consumed it, even one that ended by timeout", async () => {
    const alarm = new Alarm();
    const first = alarm.wait(10);
    await vi.advanceTimersByTimeAsync(10);
    await first;
    const second = alarm.wait(10);
    expect(await settled(second)).toBe(false);
    alarm.ring();
    await second;
    expect(await settled(alarm.wait(10))).toBe(false);
  });

  it("ends a wait when its signal aborts, and returns at once for a signal already aborted", async () => {
    const alarm = new Alarm();
    const controller = new AbortController();
    const waiting = alarm.wait(60_000, controller.signal);
    expect(await settled(waiting)).toBe(false);
    controller.abort();
    expect(await settled(waiting)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);

    expect(await settled(alarm.wait(60_000, controller.signal))).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("stops listening to the signal once a wait is over", async () => {
    const controller = new AbortController();
    const removed = vi.spyOn(controller.signal, "removeEventListener");
    const waiting = new Alarm().wait(5, controller.signal);
    await vi.advanceTimersByTimeAsync(5);
    await waiting;
    expect(removed).toHaveBeenCalledWith("abort", expect.any(Function));
  });
});

describe("pause", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("resolves after the given time, or at once when its signal aborts", async () => {
    const timed = pause(200);
    await vi.advanceTimersByTimeAsync(199);
    expect(await settled(timed)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled(timed)).toBe(true);

    const controller = new AbortController();
    const aborted = pause(60_000, controller.signal);
    controller.abort();
    expect(await settled(aborted)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
