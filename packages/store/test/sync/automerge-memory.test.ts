import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as A from "@automerge/automerge";
import { describe, expect, it } from "vitest";
import {
  AutomergeMemoryReserve,
  MOST_RESERVED,
  reserveAutomergeMemory,
} from "../../src/sync/automerge-memory.js";

const PACKAGE = fileURLToPath(new URL("../..", import.meta.url));
const RESERVE = fileURLToPath(new URL("../../dist/sync/automerge-memory.js", import.meta.url));

/**
 * A child process that loads 1,500 documents shaped like a space's standards
 * (ten signed records of random bytes, ten texts a document), keeping each,
 * as a join's bulk answer does, and counts how often Automerge's
 * WebAssembly memory grew once it held 32 MB or more: the growths that make
 * V8 scavenge before every array buffer it allocates. Automerge's memory is
 * read from its module's instance, caught as it is made.
 */
async function growthsPast32MB(reserving: boolean): Promise<{ growths: number; memory: number }> {
  const script = `
    let memory;
    WebAssembly.Instance = new Proxy(WebAssembly.Instance, {
      construct(target, args) {
        const instance = new target(...args);
        if (Object.keys(instance.exports).some((name) => name.startsWith("automerge_")))
          memory = instance.exports.memory;
        return instance;
      },
    });
    const A = await import("@automerge/automerge");
    const { AutomergeMemoryReserve } = await import(${JSON.stringify(RESERVE)});
    const reserve = ${reserving} ? new AutomergeMemoryReserve() : undefined;
    const saved = [];
    for (let d = 0; d < 40; d++) {
      let doc = A.from({ records: {}, contents: {} });
      for (let v = 0; v < 10; v++)
        doc = A.change(doc, (x) => {
          x.records["r" + d + "-" + v] = crypto.getRandomValues(new Uint8Array(300));
          x.contents["c" + d + "-" + v] = new TextEncoder().encode("# s" + d + " v" + v + "\\n" + "lorem ipsum ".repeat(170));
        });
      saved.push(A.save(doc));
    }
    const kept = [];
    let received = 0, growths = 0, size = memory.buffer.byteLength;
    for (let i = 0; i < 1500; i++) {
      const bytes = saved[i % saved.length];
      received += bytes.length;
      reserve?.received(received);
      kept.push(A.load(bytes));
      if (memory.buffer.byteLength !== size) {
        if (size >= 32 * 2 ** 20) growths += 1;
        size = memory.buffer.byteLength;
      }
    }
    process.stdout.write(JSON.stringify({ growths, memory: size }));
  `;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--input-type=module", "-e", script],
    { cwd: PACKAGE },
  );
  return JSON.parse(stdout) as { growths: number; memory: number };
}

describe("Automerge's memory reserved ahead of a bulk answer", () => {
  it("grows a few times in large steps past 32 MB, not a few pages at a time", async () => {
    const [unreserved, reserved] = await Promise.all([
      growthsPast32MB(false),
      growthsPast32MB(true),
    ]);
    // Without it, the memory grows a page or so at a time all the way (hundreds of times).
    expect(unreserved.growths).toBeGreaterThan(100);
    // With it, once per reservation step past 32 MB.
    expect(reserved.growths).toBeLessThanOrEqual(2);
    // Room was made ahead, within a few times what the documents took.
    expect(reserved.memory).toBeGreaterThanOrEqual(unreserved.memory);
    expect(reserved.memory).toBeLessThan(4 * unreserved.memory);
  }, 60_000);

  it("reserves no more than its bound however many bytes arrive (a 512 MiB answer would ask for 8 GiB)", () => {
    expect(MOST_RESERVED).toBeLessThanOrEqual(256 * 1024 * 1024);
    const reserve = new AutomergeMemoryReserve({ most: 80 * 1024 * 1024 });
    reserve.received(1024 * 1024);
    expect(reserve.reserved).toBe(64 * 1024 * 1024);
    reserve.received(512 * 1024 * 1024);
    expect(reserve.reserved).toBe(80 * 1024 * 1024);
    reserve.received(1024 * 1024 * 1024);
    expect(reserve.reserved).toBe(80 * 1024 * 1024);
    // Automerge still works after.
    expect(A.load<{ n: number }>(A.save(A.from({ n: 1 }))).n).toBe(1);
  });

  it("leaves Automerge working and every document as it was", () => {
    const doc = A.from({ records: { a: new Uint8Array([1, 2, 3]) } });
    const bytes = A.save(doc);
    reserveAutomergeMemory(8 * 1024 * 1024);
    const loaded = A.load<{ records: { a: Uint8Array } }>(bytes);
    expect([...loaded.records.a]).toEqual([1, 2, 3]);
    expect(A.getHeads(loaded)).toEqual(A.getHeads(doc));
  });
});
