import { watchSpace } from "@canon/store";
import { home, signerIfAny } from "../context.js";
import { describeRecord } from "../describe-record.js";
import { escapeControls, type GlobalOptions } from "../output.js";
import { hostOwner } from "../owner/host-owner.js";

/** `canon watch [--relay <ws-url>]`: stay connected and print each new record as it arrives, one line each. */
export async function run(
  options: GlobalOptions & { relay?: string; token?: string },
): Promise<void> {
  const stop = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => stop.abort());
  // A watch is its home's owner: commands from other shells run in its replica
  // and go out through its connection (docs/decisions/2026-11-29-home-owner.md).
  const owner = await hostOwner();
  try {
    await watchUntilStopped(options, stop);
  } finally {
    await owner?.stop();
  }
}

async function watchUntilStopped(
  options: GlobalOptions & { relay?: string; token?: string },
  stop: AbortController,
): Promise<void> {
  await watchSpace(home(), {
    space: options.space,
    relay: options.relay,
    token: options.token,
    signal: stop.signal,
    checkpointAs: await signerIfAny(options),
    onEvent: (event) => {
      if (options.json) {
        process.stdout.write(`${JSON.stringify(event)}\n`);
      } else if (event.event === "record") {
        process.stdout.write(`${event.at}  ${describeRecord(event.record)}\n`);
      } else if (event.event === "connected") {
        process.stderr.write(`canon: connected to ${event.relay}\n`);
      } else {
        process.stderr.write(
          `canon: ${escapeControls(event.reason)}; retrying in ${event.retryInMs} ms\n`,
        );
      }
    },
  });
}
