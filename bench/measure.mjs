// Helpers shared by the benchmarks: timing a child process, checking what it
// printed, and summarising samples.
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { performance } from "node:perf_hooks";

/** The median of a list of numbers (the mean of the middle two when the count is even). */
export function median(samples) {
  if (samples.length === 0) throw new Error("median of no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Nanoseconds from process.hrtime.bigint() as milliseconds. */
export function toMs(nanoseconds) {
  return Number(nanoseconds) / 1e6;
}

/**
 * Runs a command to completion and returns its wall time in ms, measured
 * around the whole spawn (process start, run, exit, stdout collected).
 * Throws unless it exits 0 and prints exactly `expect` (a Buffer): timing a
 * command that fails, or prints something else, measures nothing useful.
 */
export function timeCommand({ label, command, args, cwd, env, expect }) {
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
  const elapsed = toMs(process.hrtime.bigint() - start);
  checkOutput(label, result, expect);
  return elapsed;
}

/** Throws, with what went wrong, unless a spawnSync result exited 0 with stdout equal to `expect`. */
export function checkOutput(label, result, expect) {
  if (result.error) throw new Error(`${label}: could not run: ${result.error.message}`);
  const stderr = result.stderr?.toString().trim();
  if (result.status !== 0) {
    const why = result.signal ? `was killed by ${result.signal}` : `exited ${result.status}`;
    throw new Error(`${label}: ${why}${stderr ? `\n${stderr}` : ""}`);
  }
  if (!result.stdout.equals(expect)) {
    throw new Error(
      `${label}: printed ${result.stdout.length} bytes that differ from the expected ${expect.length}` +
        ` (first difference at byte ${firstDifference(result.stdout, expect)})${stderr ? `\n${stderr}` : ""}`,
    );
  }
}

function firstDifference(a, b) {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return i;
  return length;
}

/** Milliseconds as text with a fixed number of decimals. */
export function ms(value, decimals = 1) {
  return `${value.toFixed(decimals)} ms`;
}

/** A ratio as text, e.g. "1.23×". */
export function times(value) {
  return `${value.toFixed(2)}×`;
}

/** The p-th percentile (0 < p ≤ 100) of a list of numbers, by the nearest-rank method: a real sample. */
export function percentile(samples, p) {
  if (samples.length === 0) throw new Error("percentile of no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1];
}

/** A copy of `items` in random order (Fisher–Yates). */
export function shuffled(items) {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/**
 * Exactly `size` bytes of Markdown-like text, different for each revision so
 * that every release has its own content CID.
 */
export function standardText(revision, size) {
  const lines = [`# Editorial style (revision ${revision})`, ""];
  for (let rule = 1; lines.join("\n").length < size; rule++) {
    lines.push(
      `${rule}. Rule ${rule} of revision ${revision}: prefer the active voice, name the actor, ` +
        "cut words that add nothing, and cite the source of every figure.",
    );
  }
  return Buffer.from(`${lines.join("\n").slice(0, size - 1)}\n`);
}

/** `git -c` options that let a commit be made whatever the machine's git config: an identity, no signing. */
export const GIT_IDENTITY = [
  "-c",
  "user.name=bench",
  "-c",
  "user.email=bench@example.invalid",
  "-c",
  "commit.gpgsign=false",
];

/** Commits what is staged in the repository at `cwd` as `message`, with {@link GIT_IDENTITY}, no hooks. */
export function gitCommit(cwd, env, message) {
  execFileSync("git", [...GIT_IDENTITY, "commit", "-q", "--no-verify", "-m", message], {
    cwd,
    env,
    stdio: "pipe",
  });
}

/**
 * `canon(args, env = defaultEnv)`: runs the CLI at `bin` in `cwd` without
 * blocking this process (a relay running in it must keep answering);
 * resolves with its wall time in ms and its stdout, rejects naming the
 * command when it fails.
 */
export function asyncCanon(bin, cwd, defaultEnv) {
  return (args, env = defaultEnv) =>
    new Promise((resolve, reject) => {
      const start = performance.now();
      execFile(
        process.execPath,
        [bin, ...args],
        { env, cwd, maxBuffer: 256 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const elapsed = performance.now() - start;
          if (error)
            reject(new Error(`canon ${args.join(" ")} failed: ${error.message} ${stderr}`));
          else resolve({ elapsed, stdout });
        },
      );
    });
}
