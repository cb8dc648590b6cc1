import { home } from "../context.js";
import { type GlobalOptions, print } from "../output.js";
import { askOwner } from "../owner/owner-client.js";
import { homeRoot } from "../owner/owner-socket.js";
import { becomeOwner, idleSecondsFromEnv } from "../owner/serve-owner.js";

/**
 * `canon owner [--status | --stop]`: without a flag, become this home's
 * owner process (what commands start on demand) and serve until idle for
 * `CANON_OWNER_IDLE_SECONDS` (default 300); `--status` prints the running
 * owner (pid, version), `--stop` stops it. Exits 0 at once when another
 * owner is already running.
 */
export async function run(
  options: GlobalOptions & { status?: boolean; stop?: boolean },
): Promise<void> {
  const root = homeRoot();
  if (options.status || options.stop) {
    let answer = "";
    const code = await askOwner(root, { op: options.stop ? "stop" : "status" }, (frame) => {
      if (frame.t === "out") answer += frame.d;
    });
    if (code === undefined) {
      print(options, { running: false }, () => `no owner process is running for ${root}`);
      return;
    }
    if (options.stop) {
      print(
        options,
        { running: false, stopped: true },
        () => `stopped the owner process of ${root}`,
      );
      return;
    }
    const status = JSON.parse(answer) as { pid: number; version: string };
    print(
      options,
      { running: true, ...status },
      () => `owner process ${status.pid} (canon ${status.version}) serves ${root}`,
    );
    return;
  }
  const owner = await becomeOwner(home(), { idleSeconds: idleSecondsFromEnv(), waitMs: 7_000 });
  if (owner === undefined) return;
  await owner.stopped;
}
