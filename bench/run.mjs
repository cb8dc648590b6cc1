// Runs Canon's benchmarks and prints their results; with --write, also puts
// them into docs/benchmarks.md.
//
//   node bench/run.mjs                     every benchmark
//   node bench/run.mjs sync-latency        only the ones named
//   node bench/run.mjs cold-read --write   ...and rewrite their sections of the doc
//
// A benchmark is a module in this directory exporting `title` and an async
// `run({ log })` that returns
//   { columns, rows: [{ cells, meaning }], checks: [{ target, measured, pass }], notes }.
// To add one, write the module and list it in BENCHMARKS. Its section of the
// doc lies between `<!-- bench:<name> -->` and `<!-- /bench:<name> -->`.
// Missed targets are reported, not fatal: the exit status is non-zero only
// when a benchmark could not run (a command failed or printed the wrong bytes).
import { readFile, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { fileURLToPath } from "node:url";

/** Every benchmark, by name, loaded only when it runs. */
const BENCHMARKS = {
  "cold-read": () => import("./cold-read.mjs"),
  "sync-latency": () => import("./sync-latency.mjs"),
  "live-publish": () => import("./live-publish.mjs"),
  "fold-throughput": () => import("./fold-throughput.mjs"),
  corrections: () => import("./corrections.mjs"),
  project: () => import("./project.mjs"),
  "stamp-feeds": () => import("./stamp-feeds.mjs"),
  "relay-postgres": () => import("./relay-postgres.mjs"),
  "relay-memory": () => import("./relay-memory.mjs"),
  "round-trip": () => import("./round-trip.mjs"),
  "flat-costs": () => import("./flat-costs.mjs"),
  mcp: () => import("./mcp.mjs"),
  "document-depth": () => import("./document-depth.mjs"),
  "junk-verdicts": () => import("./junk-verdicts.mjs"),
  packed: () => import("./packed.mjs"),
  "checkpoint-sizes": () => import("./checkpoint-sizes.mjs"),
};

const DOC = fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url));

function parseArguments(argv) {
  const names = [];
  let write = false;
  for (const argument of argv) {
    if (argument === "--write") write = true;
    else if (argument === "--help" || argument === "-h") {
      console.log(`usage: node bench/run.mjs [--write] [${Object.keys(BENCHMARKS).join("|")}]...`);
      process.exit(0);
    } else if (argument.startsWith("-")) throw new Error(`unknown option ${argument}`);
    else if (!Object.hasOwn(BENCHMARKS, argument)) {
      throw new Error(`no benchmark "${argument}" (known: ${Object.keys(BENCHMARKS).join(", ")})`);
    } else if (!names.includes(argument)) names.push(argument);
  }
  return { names: names.length > 0 ? names : Object.keys(BENCHMARKS), write };
}

/** The machine and Node the figures were measured on. */
function machine() {
  const cpu = cpus();
  const memory = (totalmem() / 1024 ** 3).toFixed(1);
  return `${cpu[0]?.model.trim() ?? "unknown CPU"}, ${cpu.length} cores, ${memory} GiB RAM, Node ${process.version}, ${process.platform}/${process.arch}`;
}

/** Cells padded into aligned columns, for the terminal (Markdown backticks dropped). */
function textTable(columns, rows) {
  const lines = [columns, ...rows.map((row) => row.cells)].map((cells) =>
    cells.map((cell) => cell.replaceAll("`", "")),
  );
  const widths = columns.map((_, i) => Math.max(...lines.map((cells) => cells[i].length)));
  // The first column is text (left-aligned); the others are figures (right-aligned).
  const format = (cells) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join("  ");
  return [
    format(lines[0]),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...lines.slice(1).map(format),
  ]
    .map((line) => `  ${line.trimEnd()}`)
    .join("\n");
}

function printResult(name, title, result) {
  console.log(`\n${title} [${name}]\n`);
  console.log(textTable(result.columns, result.rows));
  console.log("");
  for (const check of result.checks) {
    console.log(
      `  ${check.pass ? "PASS" : "FAIL"}  ${check.target.replaceAll("`", "")}: ${check.measured}`,
    );
  }
  for (const note of result.notes ?? []) console.log(`\n  ${note.replaceAll("`", "")}`);
}

/**
 * A Markdown table, padded the way Biome formats one (so the doc stays
 * `biome check` clean): the first column left-aligned, the others right.
 */
function markdownTable(columns, rows) {
  const lines = [columns, ...rows.map((row) => row.cells)];
  const widths = columns.map((_, i) => Math.max(3, ...lines.map((cells) => cells[i].length)));
  const pad = (cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]));
  const row = (cells) => `| ${cells.map(pad).join(" | ")} |`;
  const rule = widths.map((w, i) => (i === 0 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`));
  return [row(lines[0]), `| ${rule.join(" | ")} |`, ...lines.slice(1).map(row)];
}

/** The Markdown that goes between a benchmark's markers in the doc. */
function markdownSection(result, measuredOn, date) {
  return [
    `Measured ${date} on ${measuredOn}.`,
    "",
    ...markdownTable(result.columns, result.rows),
    "",
    ...result.rows.map((r) => `- **${r.cells[0]}**: ${r.meaning}`),
    "",
    "Targets:",
    "",
    ...result.checks.map(
      (c) => `- ${c.pass ? "PASS" : "FAIL"}: ${c.target} (measured ${c.measured})`,
    ),
    ...(result.notes ?? []).flatMap((note) => ["", note]),
  ].join("\n");
}

/** Replaces the text between a benchmark's markers, or appends a new section. */
function replaceSection(doc, name, body) {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const start = doc.indexOf(open);
  const end = doc.indexOf(close);
  if (start === -1 || end === -1 || end < start) {
    return `${doc.trimEnd()}\n\n## ${name}\n\n${open}\n${body}\n${close}\n`;
  }
  return `${doc.slice(0, start + open.length)}\n${body}\n${doc.slice(end)}`;
}

async function main() {
  const { names, write } = parseArguments(process.argv.slice(2));
  const measuredOn = machine();
  const now = new Date();
  console.log(`Machine: ${measuredOn}`);
  console.log(`Date:    ${now.toISOString()}`);

  const sections = [];
  for (const name of names) {
    const { title, run } = await BENCHMARKS[name]();
    const result = await run({ log: (message) => console.log(`  [${name}] ${message}`) });
    printResult(name, title, result);
    sections.push({ name, result });
  }

  if (write) {
    const date = `${now.toISOString().slice(0, 16).replace("T", " ")} UTC`;
    let doc = await readFile(DOC, "utf8").catch(() => "# Benchmarks\n");
    for (const { name, result } of sections) {
      doc = replaceSection(doc, name, markdownSection(result, measuredOn, date));
    }
    await writeFile(DOC, doc);
    console.log(`\nWrote ${sections.map((s) => s.name).join(", ")} to ${DOC}`);
  }
}

try {
  await main();
} catch (error) {
  console.error(`bench: ${error.message}`);
  process.exitCode = 1;
}
