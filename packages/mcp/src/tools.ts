import { lstat } from "node:fs/promises";
import { CanonError } from "@canon/core";
import {
  correct,
  DEFAULT_IDENTITY,
  history,
  loadIdentity,
  pull,
  stamp,
  verifyFromFeeds,
  verifyStamp,
} from "@canon/store";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { toolError } from "./mcp-error.js";
import { fileInside } from "./project-path.js";
import type { ResourceSource } from "./resources.js";
import { statusOf } from "./served-context.js";

/** What the tools act with. */
export interface ToolContext extends ResourceSource {
  /** The identity stamps and corrections are signed with; the home's own when undefined. */
  readonly identity: string | undefined;
  /** Where paths given to tools are resolved, and must stay: the project, or the working directory. */
  readonly root: string;
  /** Told after a tool changed something, so subscribers hear of it at once. */
  readonly changed: () => Promise<void>;
  /** Warnings for the operator (stderr). */
  readonly log: (line: string) => void;
}

const standardName = z.string().min(1).max(200).describe("a standard's name, e.g. editorial-style");
const path = z
  .string()
  .min(1)
  .max(4096)
  .describe("a file inside the project, relative to it (or absolute, inside it)");

const releaseRef = z.looseObject({ standard: z.string(), version: z.number() });

const statusOutput = z.looseObject({
  standards: z.array(z.looseObject({ standard: z.string() })),
});
const pullOutput = z.looseObject({
  project: z.string(),
  space: z.string(),
  sync: z.enum(["synced", "offline", "skipped"]),
  standards: z.array(
    z.looseObject({
      standard: z.string(),
      version: z.number(),
      release: z.string(),
      files: z.number(),
      corrections: z.number(),
    }),
  ),
  written: z.number(),
});
const stampOutput = z.looseObject({
  cid: z.string(),
  stampFile: z.string(),
  output: z.looseObject({ name: z.string(), sha256: z.string() }),
  context: z.array(releaseRef),
  corrections: z.array(z.string()),
  warnings: z.array(z.looseObject({ code: z.string(), standard: z.string() })),
});
const correctOutput = z.looseObject({
  cid: z.string(),
  standard: z.string(),
  text: z.string(),
  author: z.string(),
  createdAt: z.string(),
  against: z.string(),
  evidence: z.string().nullable(),
});
const verdict = z.looseObject({
  verified: z.boolean(),
  problems: z.array(z.looseObject({ code: z.string(), message: z.string() })),
  stamp: z.looseObject({ cid: z.string() }),
  context: z.array(releaseRef),
  staleWhenStamped: z.boolean(),
});
const verifyOutput = z.looseObject({
  verified: z.boolean(),
  from: z.enum(["sidecar", "feeds"]),
  stamps: z.array(verdict),
});
const logOutput = z.looseObject({
  standard: z.string(),
  forked: z.boolean(),
  releases: z.array(
    z.looseObject({
      version: z.number(),
      cid: z.string(),
      release: z.string(),
      author: z.string(),
      createdAt: z.string(),
      message: z.string(),
      head: z.boolean(),
    }),
  ),
});

/** A CID as Canon writes them (base32 `b...`), not a path. */
const CID_PATTERN = /^b[a-z2-7]{20,}$/;

/**
 * Registers canon_status, canon_pull, canon_stamp, canon_correct,
 * canon_verify and canon_log, each with an input and an output schema; a
 * failure is a tool error whose text names the problem and its code.
 */
export function registerTools(server: McpServer, tools: ToolContext): void {
  const { home } = tools;
  const space = () => tools.current().space;
  const project = () => (tools.scope.kind === "project" ? tools.scope.dir : undefined);

  server.registerTool(
    "canon_status",
    {
      title: "Where each standard stands",
      description:
        "Per standard of the project's canon.json: current, behind (newer versions or corrections), modified, missing, forked or unknown (as `canon status --json`); for a whole space, each standard's latest version.",
      inputSchema: z.strictObject({}),
      outputSchema: statusOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async () => run(() => statusOf(home, tools.scope)),
  );

  server.registerTool(
    "canon_pull",
    {
      title: "Install the latest context",
      description:
        "Syncs with the space's relay (bounded; offline says so), then writes every target of canon.json and canon.lock, as `canon pull`. A file edited since the last pull is refused unless force.",
      inputSchema: z.strictObject({
        force: z.boolean().optional().describe("overwrite files edited since the last pull"),
        offline: z.boolean().optional().describe("do not sync first"),
        timeoutSeconds: z.number().int().min(1).max(120).optional(),
      }),
      outputSchema: pullOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    },
    async (input) =>
      run(async () => {
        const dir = project();
        if (dir === undefined)
          throw new CanonError(
            "BAD_ARGUMENT",
            "canon_pull installs a project's context: start `canon mcp` in a directory with canon.json (not --space)",
          );
        const report = await pull(home, {
          dir,
          space: tools.scope.space,
          force: input.force,
          offline: input.offline,
          timeoutMs: (input.timeoutSeconds ?? 10) * 1000,
          warn: (message) => tools.log(`canon: warning: ${message}`),
          asCommand: "mcp",
        });
        await tools.changed();
        return report;
      }),
  );

  server.registerTool(
    "canon_stamp",
    {
      title: "Stamp an output",
      description:
        "Signs which context an output file was produced with into <path>.canon.json and the agent's provenance feed (shared at the next sync, or at once while connected). Standards: name or name@version|cid; the project's pinned standards when omitted.",
      inputSchema: z.strictObject({
        path,
        standards: z.array(z.string().min(1).max(300)).max(64).optional(),
        format: z.enum(["canon", "in-toto"]).optional(),
      }),
      outputSchema: stampOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
    },
    async (input) =>
      run(async () => {
        const output = await fileInside(tools.root, input.path, "the output");
        const context =
          input.standards ??
          (project() === undefined
            ? undefined
            : tools
                .current()
                .standards.map((served) => `${served.standard}@${served.rendered.release}`));
        const signer = await loadIdentity(home, tools.identity ?? DEFAULT_IDENTITY);
        const stamped = await stamp(home, signer, {
          space: space(),
          output,
          context,
          format: input.format,
        });
        await tools.changed();
        return stamped;
      }),
  );

  server.registerTool(
    "canon_correct",
    {
      title: "Record a correction",
      description:
        "Records a lesson the operator gave (a correction of a standard), signed and in force for every agent from their next sync, optionally with the stamped output that went wrong (a path) or a record's CID as evidence.",
      inputSchema: z.strictObject({
        standard: standardName,
        text: z.string().min(1).max(16_384).describe("the lesson, as the operator gave it"),
        evidence: z.string().min(1).max(4096).optional(),
      }),
      outputSchema: correctOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
    },
    async (input) =>
      run(async () => {
        const evidence =
          input.evidence === undefined || CID_PATTERN.test(input.evidence)
            ? input.evidence
            : await fileInside(tools.root, input.evidence, "the evidence");
        const signer = await loadIdentity(home, tools.identity ?? DEFAULT_IDENTITY);
        const corrected = await correct(home, signer, {
          space: space(),
          standard: input.standard,
          text: input.text,
          evidence,
        });
        await tools.changed();
        return corrected;
      }),
  );

  server.registerTool(
    "canon_verify",
    {
      title: "Verify an output",
      description:
        "Checks an output against its stamp (<path>.canon.json) or, without one, every stamp of its sha256 in the space's feeds: who stamped it, with which releases, current or stale when stamped, superseded since.",
      inputSchema: z.strictObject({ path }),
      outputSchema: verifyOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (input) =>
      run(async () => {
        const output = await fileInside(tools.root, input.path, "the output");
        if (await exists(`${output}.canon.json`)) {
          const sidecar = await fileInside(tools.root, `${output}.canon.json`, "the stamp file");
          const found = await verifyStamp(home, { space: space(), output, stamp: sidecar });
          return { verified: found.verified, from: "sidecar", stamps: [found] };
        }
        const found = await verifyFromFeeds(home, { space: space(), output });
        return {
          verified: found.verified,
          from: "feeds",
          space: found.space,
          stamps: found.stamps,
        };
      }),
  );

  server.registerTool(
    "canon_log",
    {
      title: "A standard's history",
      description:
        "Every accepted release of a standard, newest first: version, content and release CIDs, author, time, message, and whether it is forked.",
      inputSchema: z.strictObject({ standard: standardName }),
      outputSchema: logOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (input) => run(() => history(home, { space: space(), standard: input.standard })),
  );
}

/** Runs a tool: its result as structured content (and as JSON text), or a tool error. */
async function run(work: () => Promise<unknown>) {
  try {
    const structured = JSON.parse(JSON.stringify(await work())) as Record<string, unknown>;
    return {
      structuredContent: structured,
      content: [{ type: "text" as const, text: JSON.stringify(structured, null, 2) }],
    };
  } catch (error) {
    return toolError(error);
  }
}

/** True when something is at `path` (a link counts). */
async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
