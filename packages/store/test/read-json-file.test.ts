import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readJsonFile } from "../src/home/read-json-file.js";

describe("readJsonFile", () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), "canon-json-"));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it("parses a JSON file", async () => {
    const path = join(directory, "a.json");
    await writeFile(path, '{"v":1}');
    expect(await readJsonFile(path)).toEqual({ v: 1 });
  });

  it("returns undefined for a missing file, leaving its meaning to the caller", async () => {
    expect(await readJsonFile(join(directory, "missing.json"))).toBeUndefined();
  });

  it("names a file that is not JSON, with the caller's advice", async () => {
    const path = join(directory, "bad.json");
    await writeFile(path, "{");
    await expect(readJsonFile(path, "fix or remove it")).rejects.toMatchObject({
      code: "BAD_CONFIG",
      message: `${path} is not valid JSON; fix or remove it`,
    });
    await expect(readJsonFile(path)).rejects.toMatchObject({
      message: `${path} is not valid JSON`,
    });
  });

  it("names a file it cannot read", async () => {
    await expect(readJsonFile(directory)).rejects.toMatchObject({
      code: "BAD_CONFIG",
      message: expect.stringMatching(/^cannot read .*EISDIR/),
    });
  });
});
