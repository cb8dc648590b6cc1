// The README's demo: one owner publishes a standard, an agent reads it
// offline, pins it by CID, and the owner publishes a correction-driven v2 —
// every step a real `canon` process on a temporary CANON_HOME.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const bin = resolve(import.meta.dirname, "../packages/cli/dist/canon.mjs");
const work = mkdtempSync(join(tmpdir(), "canon-demo-"));
const home = join(work, "owner");

function canon(...args) {
  process.stdout.write(
    `\n$ canon ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(" ")}\n`,
  );
  const out = execFileSync(process.execPath, [bin, ...args], {
    env: { ...process.env, CANON_HOME: home },
    encoding: "utf8",
  });
  process.stdout.write(out);
  return out;
}

try {
  console.log(`Canon demo — CANON_HOME=${home}`);
  canon("init");
  canon("space", "create", "the publication");

  const style = join(work, "editorial-style.md");
  writeFileSync(style, "# Editorial style\n\n- Practitioner tone.\n- Short paragraphs.\n");
  const v1 = JSON.parse(
    canon("publish", "editorial-style", style, "-m", "first version", "--json"),
  );

  console.log("\n# An agent reads its context offline, from the local replica:");
  canon("show", "editorial-style");

  writeFileSync(
    style,
    "# Editorial style\n\n- Practitioner tone.\n- Short paragraphs.\n- No inline code in non-technical articles.\n",
  );
  canon(
    "publish",
    "editorial-style",
    style,
    "-m",
    "lesson learned: no inline code outside technical pieces",
  );

  console.log(
    "\n# The latest version, then the exact bytes an earlier output was made with, by CID:",
  );
  canon("show", "editorial-style");
  canon("show", `editorial-style@${v1.cid}`);
  canon("log", "editorial-style");
  canon("ls");
  console.log(
    `\nThe content CID's digest is the file's sha256sum: anyone can check ${v1.cid} without Canon.`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
