import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { guardedInput, MAX_MESSAGE_BYTES } from "../src/guarded-input.js";

/** Feeds `chunks` through the guard; returns what passed and what it answered. */
async function guard(chunks: (string | Buffer)[]) {
  const input = new PassThrough();
  const output = new PassThrough();
  const answered: string[] = [];
  output.on("data", (chunk: Buffer) =>
    answered.push(...chunk.toString().split("\n").filter(Boolean)),
  );
  const logged: string[] = [];
  const passed: string[] = [];
  const guarded = guardedInput(input, output, (line) => logged.push(line));
  guarded.on("data", (chunk: Buffer) => passed.push(chunk.toString()));
  for (const chunk of chunks) input.write(chunk);
  input.end();
  await new Promise((resolve) => guarded.on("end", resolve));
  return { passed: passed.join(""), answered: answered.map((line) => JSON.parse(line)), logged };
}

const ping = (id: number) => JSON.stringify({ jsonrpc: "2.0", id, method: "ping" });

describe("the guard before the stdio transport", () => {
  it("passes JSON-RPC lines through unchanged, however they are split into chunks", async () => {
    const text = `${ping(1)}\n${ping(2)}\n`;
    const { passed, answered } = await guard([text.slice(0, 7), text.slice(7, 40), text.slice(40)]);
    expect(passed).toBe(text);
    expect(answered).toEqual([]);
  });

  it("answers non-JSON with -32700 and non-JSON-RPC with -32600 (with its id), and goes on", async () => {
    const { passed, answered, logged } = await guard([
      `not json\n{"id":5,"hello":1}\n[1,2]\n\n${ping(3)}\n`,
    ]);
    expect(passed).toBe(`${ping(3)}\n`);
    expect(answered.map((message) => [message.id, message.error.code])).toEqual([
      [null, -32700],
      [5, -32600],
      [null, -32600],
    ]);
    expect(logged).toHaveLength(3);
  });

  it("drops a line longer than the limit as it streams, and reads the next one", async () => {
    const big = Buffer.alloc(MAX_MESSAGE_BYTES + 10, "x");
    const { passed, answered } = await guard([
      big.subarray(0, 1_000_000),
      big.subarray(1_000_000),
      `\n${ping(4)}\n`,
    ]);
    expect(passed).toBe(`${ping(4)}\n`);
    expect(answered).toHaveLength(1);
    expect(answered[0].error.message).toMatch(/at most/);
  });
});
