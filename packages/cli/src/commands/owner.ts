import { lockHolderOf } from "@canon/store";
import { home } from "../context.js";
import { type GlobalOptions, print } from "../output.js";
import { askOwner } from "../owner/owner-client.js";
import { homeRoot, ownerLockOf } from "../owner/owner-socket.js";
import { becomeOwner, idleSecondsFromEnv } from "../owner/serve-owner.js";
import { CLAIM_TOKEN_ENV, releaseOwnerClaim } from "../owner/start-owner.js";
import { stopOwner } from "../owner/stop-owner.js";

/**
 * `canon owner [--status | --stop]`: without a flag, become this home's
 * owner process (what commands start on demand) and serve until idle for
 * `CANON_OWNER_IDLE_SECONDS` (default 300); `--status` prints the running
 * owner (pid, version), or the pid of one that holds the home but does not
 * answer (starting, busy, stopped), `--stop` stops it and returns once it has gone
 * (asking again, for up to 30 s, an owner that holds the home but is still
 * starting or busy; exit 1 naming its pid if it never goes). Exits 0 at once when another
 * owner is already running.
 */
export async function run(
  options: GlobalOptions & { status?: boolean; stop?: boolean },
): Promise<void> {
  const root = homeRoot();
  if (options.stop) {
    const outcome = await stopOwner(root);
    if (outcome.kind === "none") {
      print(options, { running: false }, () => `no owner process is running for ${root}`);
      return;
    }
    if (outcome.kind === "stopped") {
      print(
        options,
        { running: false, stopped: true },
        () => `stopped the owner process of ${root}`,
      );
      return;
    }
    process.stderr.write(
      `canon: the owner process (pid ${outcome.pid}) of ${root} ${outcome.why}; try again, or end it with \`kill ${outcome.pid}\` (what it reported done is kept)\n`,
    );
    process.exitCode = 1;
    return;
  }
  if (options.status) {
    let answer = "";
    const code = await askOwner(root, { op: "status" }, (frame) => {
      if (frame.t === "out") answer += frame.d;
    });
    if (code === undefined) {
      // None answered: one may still hold the home, starting, busy on the CPU or stopped.
      const holder = await lockHolderOf(ownerLockOf(root));
      if (holder === undefined) {
        print(options, { running: false }, () => `no owner process is running for ${root}`);
        return;
      }
      print(
        options,
        { running: true, answering: false, pid: holder.pid, state: holder.state },
        () =>
          `owner process ${holder.pid} holds ${root} but did not answer (${
            holder.state === "stopped" ? "stopped: SIGSTOP or a debugger" : "starting, or busy"
          })`,
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
  // Spawned by a command (start-owner.ts): the claim it made names this process; the owner
  // keeps it while it serves, and it goes now if this process does not become the owner.
  const claimToken = process.env[CLAIM_TOKEN_ENV];
  delete process.env[CLAIM_TOKEN_ENV];
  const owner = await becomeOwner(home(), {
    idleSeconds: idleSecondsFromEnv(),
    waitMs: 7_000,
    claimToken,
  }).catch((error: unknown) => {
    releaseOwnerClaim(root, claimToken);
    throw error;
  });
  if (owner === undefined) releaseOwnerClaim(root, claimToken);
  if (owner === undefined) return;
  await owner.stopped;
}
