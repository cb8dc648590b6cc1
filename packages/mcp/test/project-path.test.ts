import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fileInside } from "../src/project-path.js";

let dir: string;
let project: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "canon-mcp-path-"));
  project = join(dir, "project");
  await mkdir(join(project, "out"), { recursive: true });
  await writeFile(join(project, "out", "a.md"), "a\n");
  await writeFile(join(dir, "secret.md"), "secret\n");
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe("tool paths stay inside the project", () => {
  it("resolves relative and absolute paths inside it, and links that stay inside", async () => {
    expect(await fileInside(project, "out/a.md", "the output")).toMatch(/project\/out\/a\.md$/);
    expect(await fileInside(project, join(project, "out/a.md"), "the output")).toMatch(
      /project\/out\/a\.md$/,
    );
    await symlink("out/a.md", join(project, "inner-link.md"));
    expect(await fileInside(project, "inner-link.md", "the output")).toMatch(/out\/a\.md$/);
  });

  it("refuses .., absolute paths elsewhere, links out, folders, FIFOs, devices and NUL", async () => {
    await symlink(join(dir, "secret.md"), join(project, "link-out.md"));
    await symlink(dir, join(project, "dir-out"));
    execFileSync("mkfifo", [join(project, "fifo")]);
    const refusals: [string, RegExp][] = [
      ["../secret.md", /outside the project/],
      [join(dir, "secret.md"), /outside the project/],
      ["out/../../secret.md", /outside the project/],
      ["link-out.md", /leads outside the project/],
      ["dir-out/secret.md", /leads outside the project/],
      ["out", /not a regular file/],
      ["fifo", /not a regular file/],
      ["/dev/null", /outside the project/],
      ["missing.md", /no such file/],
      ["a\0b", /must be a path/],
      ["", /must be a path/],
    ];
    for (const [given, why] of refusals)
      await expect(fileInside(project, given, "the output"), given).rejects.toThrow(why);
  });
});
