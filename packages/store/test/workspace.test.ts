import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { defaultTarget } from "../src/workspace/default-target.js";
import {
  hasFrontMatter,
  skillFrontMatterProblem,
  withFrontMatter,
} from "../src/workspace/front-matter.js";
import { type LockFile, serializeLock } from "../src/workspace/lock-file.js";
import { parseManifest } from "../src/workspace/project-manifest.js";
import { targetsFromFlags } from "../src/workspace/target-flags.js";
import { assertDistinctTargets } from "../src/workspace/target-places.js";
import { cursorFrontMatter } from "../src/workspace/targets/cursor-rule.js";
import { skillFiles } from "../src/workspace/targets/skill.js";
import { targetFiles } from "../src/workspace/targets/target-files.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);
const input = (content: string, section: string | null = null) => ({
  standard: "rules/a11y",
  content: bytes(content),
  rendered: bytes(section === null ? content : `${content}\n${section}`),
  section: section === null ? null : bytes(section),
  files: null,
});

describe("canon.lock", () => {
  const lock: LockFile = {
    space: "canon:x/y",
    lockVersion: 1,
    standards: {
      zeta: {
        version: 1,
        release: "r",
        content: "c",
        rendered: "c",
        corrections: [],
        targets: [{ type: "agents-md" }],
        files: [{ sha256: "a".repeat(64), path: "AGENTS.md" }],
      },
      alpha: {
        version: 2,
        release: "r2",
        content: "c2",
        rendered: "d2",
        corrections: ["k"],
        targets: [{ type: "cursor-rule", globs: "*.ts", description: "d" }],
        files: [],
      },
    },
  };
  it("is JSON with keys sorted at every level, 2-space indent and a trailing newline", () => {
    const written = serializeLock(lock);
    expect(written.endsWith("}\n")).toBe(true);
    expect(written.indexOf('"alpha"')).toBeLessThan(written.indexOf('"zeta"'));
    expect(written.indexOf('"lockVersion"')).toBeLessThan(written.indexOf('"space"'));
    expect(written).toContain(
      '      "files": [\n        {\n          "path": "AGENTS.md",\n          "sha256"',
    );
    expect(written).toContain(
      '"description": "d",\n          "globs": "*.ts",\n          "type": "cursor-rule"',
    );
  });
  it("is the same bytes whatever order the standards were resolved in", () => {
    const reversed = {
      ...lock,
      standards: Object.fromEntries(Object.entries(lock.standards).reverse()),
    };
    expect(serializeLock(reversed)).toBe(serializeLock(lock));
  });
});

describe("canon.json", () => {
  it("names the file and the field at fault", () => {
    expect(() =>
      parseManifest('{"standards":{"a":{"targets":[{"type":"vscode"}]}}}', "/p/canon.json"),
    ).toThrow(
      /^\/p\/canon\.json: field standards\.a\.targets\.0\.type: .*\(target types: skill, agents-md/,
    );
    expect(() => parseManifest('{"standards":{"a":{"targets":[]}}}', "/p/canon.json")).toThrow(
      /field standards\.a\.targets/,
    );
    expect(() =>
      parseManifest('{"standards":{"a":{"targets":[{"type":"file"}]}}}', "/p/canon.json"),
    ).toThrow(/field standards\.a\.targets\.0\.path/);
    expect(() => parseManifest('{"standards":{},"extra":1}', "/p/canon.json")).toThrow(
      /canon\.json: field/,
    );
    expect(() => parseManifest("{", "/p/canon.json")).toThrow(/^\/p\/canon\.json is not JSON/);
  });
  it.each(["../x", "/etc/passwd", "a/../../b", "a\\b", "C:/x", "a//b", "./a", "a\u0007b"])(
    "refuses the target path %j",
    (path) => {
      expect(() =>
        parseManifest(
          JSON.stringify({ standards: { a: { targets: [{ type: "file", path }] } } }),
          "c.json",
        ),
      ).toThrow(/field standards\.a\.targets\.0\.path/);
    },
  );
  it("checks 40,000 targets for clashes at once (pairwise, a canon.json of 17,000 standards held add for over a minute), and still finds one", () => {
    const standards: Record<string, { targets: { type: "file"; path: string }[] }> = {};
    for (let i = 0; i < 40_000; i++)
      standards[`s${i}`] = { targets: [{ type: "file", path: `docs/p${i}.md` }] };
    assertDistinctTargets({ standards }, "c.json");
    standards.last = { targets: [{ type: "file", path: "DOCS/P17.md" }] };
    expect(() => assertDistinctTargets({ standards }, "c.json")).toThrow(
      /c\.json: s17 and last both write DOCS\/P17\.md/,
    );
  });
});

describe("a Cursor rule's front matter", () => {
  it("is the shape Cursor documents: globs bare and comma-joined with no space, even starting with *", () => {
    expect(
      cursorFrontMatter(
        { description: "Accessibility", globs: "**/*.ts, src/**/*.tsx", alwaysApply: false },
        "r.mdc",
      ),
    ).toBe(
      "---\ndescription: Accessibility\nglobs: **/*.ts,src/**/*.tsx\nalwaysApply: false\n---\n",
    );
    expect(cursorFrontMatter({ globs: ["*.md", " docs/** "] }, "r.mdc")).toBe(
      "---\nglobs: *.md,docs/**\n---\n",
    );
  });
  it("quotes a description only where YAML needs it, and refuses what Cursor cannot read", () => {
    expect(cursorFrontMatter({ description: "A: b" }, "r.mdc")).toBe(
      '---\ndescription: "A: b"\n---\n',
    );
    expect(cursorFrontMatter({}, "r.mdc")).toBe("");
    expect(() => cursorFrontMatter({ globs: ["a,b"] }, "r.mdc")).toThrow(/holds a comma/);
    expect(() => cursorFrontMatter({ description: "two\nlines" }, "r.mdc")).toThrow(/one line/);
  });
});

describe("front matter", () => {
  it("is added from the settings by the yaml library, and parses back", () => {
    const out = text(
      withFrontMatter(bytes("Body\n"), {
        description: "A: b",
        globs: "*.ts",
        alwaysApply: false,
        other: undefined,
      }),
    );
    const match = /^---\n([\s\S]*?)---\nBody\n$/.exec(out);
    expect(parse(match?.[1] ?? "")).toEqual({
      description: "A: b",
      globs: "*.ts",
      alwaysApply: false,
    });
  });
  it("is never rewritten when the content has its own (BOM and CRLF included)", () => {
    const own = bytes("\uFEFF---\r\ndescription: mine\r\n---\r\nBody\r\n");
    expect(hasFrontMatter(own)).toBe(true);
    expect(withFrontMatter(own, { description: "theirs" })).toBe(own);
  });
  it("adds nothing without settings", () => {
    const plain = bytes("Body\n");
    expect(withFrontMatter(plain, { applyTo: undefined })).toBe(plain);
  });
  it("tells what is wrong with a SKILL.md's front matter", () => {
    expect(
      skillFrontMatterProblem(bytes("---\nname: x\ndescription: y\n---\nbody")),
    ).toBeUndefined();
    expect(skillFrontMatterProblem(bytes("\uFEFF---\r\nname: x\r\n---\r\n"))).toBeUndefined();
    expect(skillFrontMatterProblem(bytes("# title"))).toBe("it has no front matter");
    expect(skillFrontMatterProblem(bytes("---\nname: [x\n---\n"))).toMatch(/not valid YAML/);
    expect(skillFrontMatterProblem(bytes("---\nname: x\n"))).toMatch(/no closing ---/);
    expect(skillFrontMatterProblem(bytes("---\n- a\n---\n"))).toMatch(/not a YAML mapping/);
  });
  it("does not parse a front matter over 16 KiB (a maintainer's 4 MiB of keys took minutes of every pull): it is a problem, the file is still written", () => {
    const keys = (count: number) =>
      Array.from({ length: count }, (_, i) => `k${i}: v${i}`).join("\n");
    // Valid YAML, just too long: a problem only because of its size.
    const long = `---\nname: x\ndescription: y\n${keys(3000)}\n---\nbody`;
    expect(skillFrontMatterProblem(bytes(long))).toMatch(/front matter is over 16 KiB/);
    // 4 MiB of keys: answered without parsing them.
    const huge = bytes(`---\n${keys(300_000)}\n---\n`.slice(0, 4 * 1024 * 1024 - 8));
    const problem = skillFrontMatterProblem(
      new Uint8Array([...huge.subarray(0, huge.length - 4), ...bytes("\n---\n")]),
    );
    expect(problem).toMatch(/front matter is over 16 KiB/);
    const warnings: string[] = [];
    const files = skillFiles(
      {
        ...input("x"),
        files: [
          {
            path: "SKILL.md",
            cid: "bafk",
            size: long.length,
            bytes: bytes(long),
            executable: false,
          },
        ],
      },
      undefined,
      (message) => warnings.push(message),
    );
    expect(files.map((file) => file.path)).toEqual([".claude/skills/a11y/SKILL.md"]);
    expect(warnings).toEqual([
      expect.stringMatching(
        /SKILL\.md of rules\/a11y: its front matter is over 16 KiB.*written as published/,
      ),
    ]);
  });
});

describe("targets", () => {
  const warn = () => {};
  it("puts each kind where its tool reads it, by the last segment of the name", () => {
    const paths = (target: Parameters<typeof targetFiles>[1]) =>
      targetFiles(input("x\n"), target, warn).map((file) => file.path);
    expect(paths({ type: "cursor-rule" })).toEqual([".cursor/rules/a11y.mdc"]);
    expect(paths({ type: "copilot-instructions" })).toEqual([
      ".github/instructions/a11y.instructions.md",
    ]);
    expect(paths({ type: "copilot" })).toEqual([".github/copilot-instructions.md"]);
    expect(paths({ type: "agents-md" })).toEqual(["AGENTS.md"]);
    expect(paths({ type: "gemini-md", path: "docs/GEMINI.md" })).toEqual(["docs/GEMINI.md"]);
    expect(paths({ type: "skill" })).toEqual([".claude/skills/a11y/SKILL.md"]);
  });
  it("keeps an exact file's bytes and puts corrections in a companion file", () => {
    const files = targetFiles(
      input("exact", "## Corrections in force\n"),
      { type: "file", path: "x.bin" },
      warn,
    );
    expect(files.map((f) => [f.path, text(f.bytes)])).toEqual([
      ["x.bin", "exact"],
      ["x.bin.corrections.md", "## Corrections in force\n"],
    ]);
  });
  it("gives Markdown targets the rendered context", () => {
    const [file] = targetFiles(
      input("Body\n", "## Corrections in force\n"),
      { type: "claude-md" },
      warn,
    );
    expect(text(file?.bytes ?? new Uint8Array())).toBe("Body\n\n## Corrections in force\n");
  });
  it("refuses a bundle holding CANON-CORRECTIONS.md while corrections are in force", () => {
    const file = {
      path: "CANON-CORRECTIONS.md",
      cid: "c",
      size: 1,
      executable: false,
      bytes: bytes("x"),
    };
    expect(() => skillFiles({ ...input("", "## C\n"), files: [file] }, undefined, warn)).toThrow(
      /has its own CANON-CORRECTIONS\.md/,
    );
  });
  it("refuses a single-file target for a bundle", () => {
    const file = { path: "SKILL.md", cid: "c", size: 1, executable: false, bytes: bytes("x") };
    expect(() => targetFiles({ ...input(""), files: [file] }, { type: "agents-md" }, warn)).toThrow(
      /is a bundle/,
    );
  });
});

describe("default targets and --as flags", () => {
  it("follow the names import gives", () => {
    expect(defaultTarget("skills/webapp-testing", true)).toEqual({ type: "skill" });
    expect(defaultTarget("team/rules/a11y", false)).toEqual({ type: "cursor-rule" });
    expect(defaultTarget("instructions/astro", false)).toEqual({ type: "copilot-instructions" });
    expect(defaultTarget("copilot-instructions", false)).toEqual({ type: "copilot" });
    expect(defaultTarget("agents", false)).toEqual({ type: "agents-md" });
    expect(defaultTarget("claude", false)).toEqual({ type: "claude-md" });
    expect(defaultTarget("gemini", false)).toEqual({ type: "gemini-md" });
    expect(defaultTarget("any-folder", true)).toEqual({ type: "skill" });
    expect(() => defaultTarget("style", false)).toThrow(/say where with --as/);
  });
  it("parse type and path, apply settings to the kinds that take them, and refuse the rest", () => {
    expect(targetsFromFlags(["cursor-rule", "file:docs/x.md"], { globs: "*.ts" })).toEqual([
      { type: "cursor-rule", globs: "*.ts" },
      { type: "file", path: "docs/x.md" },
    ]);
    expect(() => targetsFromFlags(["windsurf"], {})).toThrow(
      /unknown target type "windsurf"; the types are/,
    );
    expect(() => targetsFromFlags(["file"], {})).toThrow(/file needs a path/);
    expect(() => targetsFromFlags(["agents-md"], { applyTo: "**" })).toThrow(
      /--apply-to applies to copilot-instructions/,
    );
  });
});

describe("import layouts", () => {
  it("finds GEMINI.md, .github/copilot-instructions.md and root skills/<n>/SKILL.md folders (not a skills/<n>/ without one)", async () => {
    const { mkdtemp, mkdir, writeFile, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { findContext } = await import("../src/workspace/import-layouts.js");
    const root = await mkdtemp(join(tmpdir(), "canon-layouts-"));
    try {
      await mkdir(join(root, ".github"), { recursive: true });
      await mkdir(join(root, "skills/codeql"), { recursive: true });
      await mkdir(join(root, "skills/notes"), { recursive: true });
      await writeFile(join(root, "GEMINI.md"), "# Gemini\n");
      await writeFile(join(root, ".github/copilot-instructions.md"), "Be brief.\n");
      await writeFile(join(root, "skills/codeql/SKILL.md"), "---\nname: codeql\n---\n");
      await writeFile(join(root, "skills/notes/README.md"), "not a skill\n");
      const { found, skipped } = await findContext(root, undefined);
      expect(skipped).toEqual([]);
      expect(found.map((entry) => [entry.standard, entry.path, entry.target])).toEqual([
        ["skills/codeql", "skills/codeql", { type: "skill", path: "skills/codeql" }],
        ["gemini", "GEMINI.md", { type: "gemini-md" }],
        ["copilot-instructions", ".github/copilot-instructions.md", { type: "copilot" }],
      ]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
  it("finds every layout of the public fixture, named as add expects, under a prefix when given", async () => {
    const { findContext } = await import("../src/workspace/import-layouts.js");
    const root = new URL("../../../test/fixtures/public-context/repo", import.meta.url).pathname;
    const { found, skipped } = await findContext(root, "team");
    expect(skipped).toEqual([]);
    expect(found.map((entry) => [entry.standard, entry.path, entry.folder])).toEqual([
      ["team/skills/brand-guidelines", ".claude/skills/brand-guidelines", true],
      ["team/skills/house-style", ".claude/skills/house-style", true],
      ["team/skills/webapp-testing", ".claude/skills/webapp-testing", true],
      ["team/skills/algorithmic-art", ".github/skills/algorithmic-art", true],
      ["team/rules/angular-typescript", ".cursor/rules/angular-typescript.mdc", false],
      ["team/rules/anti-overengineering", ".cursor/rules/anti-overengineering.mdc", false],
      ["team/instructions/a11y", ".github/instructions/a11y.instructions.md", false],
      ["team/instructions/astro", ".github/instructions/astro.instructions.md", false],
      ["team/agents", "AGENTS.md", false],
      ["team/claude", "CLAUDE.md", false],
    ]);
    // Each found target is what add would pick for the name, except a path that differs from the default.
    for (const entry of found) {
      const { path: _path, ...kind } = entry.target as { path?: string };
      expect(defaultTarget(entry.standard, entry.folder)).toEqual(kind);
    }
  });
});
