// @ts-check
// A minimal agent built on @canon/agent: it reads the rendered context of a
// standard (the release and the corrections in force), writes an output that
// follows it, stamps the output with exactly that context, and verifies it
// as an auditor would. Run it in a directory, with a Canon home that has
// joined a space and an identity that is a contributor there:
//   CANON_HOME=~/.canon node agent.mjs editorial-style writer
import { writeFile } from "node:fs/promises";
import { openAgent } from "@canon/agent";

const standard = process.argv[2] ?? "editorial-style";
// The identity to stamp as (`canon id new --name writer`); the home's own when absent.
const identity = process.argv[3];
const agent = openAgent(identity === undefined ? {} : { identity });

// 1. What to follow: the latest release, rendered with the corrections in force.
const context = await agent.renderedContext(standard);

// 2. The work itself (a real agent would prompt a model with context.text).
const firstLine = context.text.split("\n")[0] ?? "";
const output = `An article written following ${standard}@${context.version}.\nIt begins as the guide does: ${firstLine}\n`;
await writeFile("article.md", output);

// 3. Stamp it: the exact release and corrections, into article.md.canon.json and the agent's feed.
const stamp = await agent.stamp("article.md", { standards: [standard] });
for (const warning of stamp.warnings) console.error(`warning: ${warning.standard} ${warning.code}`);

// 4. Check it as an auditor would.
const verdict = await agent.verify("article.md");

console.log(
  JSON.stringify({
    standard,
    version: context.version,
    renderedCid: context.renderedCid,
    corrections: context.corrections.length,
    stamp: stamp.cid,
    verified: verdict.verified,
    currentWhenStamped: verdict.stamps.every((s) =>
      s.context.every((release) => release.whenStamped === "current"),
    ),
  }),
);
