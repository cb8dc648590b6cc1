import { runInProject } from "@canon/store";
import { parseSeconds } from "../arguments.js";
import { home, signer } from "../context.js";
import { escapeControls, type GlobalOptions } from "../output.js";
import { projectDir } from "../project-dir.js";

/**
 * `canon run [--frozen] [--stamp <glob>] [--timeout <s>] -- <command> [args...]`:
 * pull, run the command with CANON_LOCK and CANON_CONTEXT_DIR, stamp its
 * outputs when it succeeds, and exit with its status.
 */
export async function run(
  options: GlobalOptions & {
    project?: string;
    frozen?: boolean;
    offline?: boolean;
    stamp?: string;
    timeout: string;
  },
  command: string,
  args: string[] = [],
): Promise<void> {
  const warn = (message: string) =>
    process.stderr.write(`canon: warning: ${escapeControls(message)}\n`);
  const report = await runInProject(home(), {
    dir: await projectDir(options),
    space: options.space,
    frozen: options.frozen,
    offline: options.offline,
    timeoutMs: parseSeconds(options.timeout),
    stampGlob: options.stamp,
    signer: () => signer(options),
    command,
    args,
    cwd: process.cwd(),
    warn,
  });
  for (const stamped of report.stamped)
    process.stderr.write(
      `canon: stamped ${escapeControls(stamped.output.name)} → ${escapeControls(stamped.stampFile)}\n`,
    );
  if (options.stamp !== undefined && report.exitStatus === 0 && report.stamped.length === 0)
    warn(`no file matched --stamp ${options.stamp}; nothing stamped`);
  process.exitCode = report.exitStatus;
}
