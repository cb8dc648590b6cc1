/**
 * The home's owner process (`canon owner`): holds the replica open and the
 * relay sessions of the spaces it synced, and runs the commands thin clients
 * send over `$CANON_HOME/owner.sock`, one at a time, under the home lock.
 * See docs/decisions/2026-11-29-home-owner.md.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { existsSync } from "node:fs";
import { chmod, lstat, unlink } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { isCanonError } from "@canon/core";
import {
  type AfterAnswer,
  type CanonHome,
  closeHeldSessions,
  collectAfterAnswer,
  holdFileLock,
  holdReplica,
  keepConnected,
  keepSigningKeys,
  MAX_OWNER_REQUEST_BYTES,
  type OwnerRequest,
  openReplica,
  parseOwnerRequest,
  type Replica,
  refreshArrived,
  runAfterAnswer,
  untilRelaysHold,
} from "@canon/store";
import { signerIfAny } from "../context.js";
import { CommandQueue } from "./command-queue.js";
import { LineReader } from "./line-reader.js";
import { CLI_VERSION, isRouted, ownerLockOf, ownerSocketOf } from "./owner-socket.js";
import { clearRefreshMark, setRefreshMark } from "./refresh-mark.js";
import { holdOwnerClaim, releaseOwnerClaim } from "./start-owner.js";
import { takeStopMark } from "./stop-mark.js";

/** Default idle time before an owner started on demand exits: `CANON_OWNER_IDLE_SECONDS` overrides it. */
export const DEFAULT_IDLE_SECONDS = 300;
/** How long a command's writes may take to reach a held relay before the owner answers anyway. */
const PUSH_TIMEOUT_MS = 2_000;
/** Changes that arrive together are folded once, this long after the first. */
const REFRESH_DEBOUNCE_MS = 5;
/** How long the owner tries to connect to its space's relay, between commands. */
const CONNECT_TIMEOUT_MS = 2_000;
/** After a failed attempt (offline, the relay down), the owner tries again no sooner than this. */
const CONNECT_RETRY_MS = 30_000;
/** How long a client has, once connected, to send its request and then "go". */
const GO_TIMEOUT_MS = 5_000;
/** How long a peer that keeps its end open after an answer or a refusal keeps the connection. */
const END_GRACE_MS = 2_000;
/** Request lines are UTF-8; anything else (binary) is refused, not decoded into replacement characters. */
const utf8 = new TextDecoder("utf-8", { fatal: true });
/**
 * How long a step of the owner's stop that durability does not need (the
 * work it does between commands, the replica's last flush and disconnect)
 * may take before the owner releases the home anyway.
 */
const STOP_STEP_MS = 3_000;

/** True when `work` settles (resolves or rejects) within `ms`; false, leaving it running, otherwise. */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A line on the owner's stderr when `CANON_OWNER_TRACE` is set. */
function trace(line: string): void {
  if (process.env.CANON_OWNER_TRACE) process.stderr.write(`owner: ${line}\n`);
}

/** Where a routed command's output goes: the client's socket. */
interface Sink {
  write(stream: "out" | "err", text: string): void;
}
const sinks = new AsyncLocalStorage<Sink>();

/** A running owner. */
export interface Owner {
  readonly replica: Replica;
  /** Resolves once the owner has stopped (idle, `--stop`, a signal, its socket removed). */
  readonly stopped: Promise<void>;
  stop(): Promise<void>;
}

/** What {@link becomeOwner} is asked. */
export interface OwnerOptions {
  /** Exit after this long without a command; never when undefined (a watch hosts the owner). */
  readonly idleSeconds?: number | undefined;
  /** How long to wait for the owner lock (an owner killed a moment ago leaves it for 5 s); 0: give up at once. */
  readonly waitMs?: number | undefined;
  /** The token of the claim the command that spawned this process made for it (start-owner.ts), if any. */
  readonly claimToken?: string | undefined;
}

/** Seconds an on-demand owner stays without a command: `CANON_OWNER_IDLE_SECONDS`, else the default. */
export function idleSecondsFromEnv(): number {
  const value = Number(process.env.CANON_OWNER_IDLE_SECONDS);
  return Number.isFinite(value) && value > 0 ? value : DEFAULT_IDLE_SECONDS;
}

/**
 * Becomes the owner of `home`, or resolves undefined when another process
 * already is (it holds `owner.lock`) or the socket cannot be made (a path
 * too long for a Unix socket, a read-only home).
 */
export async function becomeOwner(
  home: CanonHome,
  options: OwnerOptions,
): Promise<Owner | undefined> {
  if (!existsSync(home.root)) return undefined;
  // Automerge loads before anything else: loaded after proper-lockfile (graceful-fs)
  // from some working directories, its own imports failed to resolve.
  const replica = await openReplica(home);
  let compromised = () => {};
  const release = await holdFileLock(
    home.root,
    ownerLockOf(home.root),
    () => compromised(),
    options.waitMs ?? 0,
  );
  if (release === undefined) return undefined;
  // `canon owner --stop` came while this process was starting, before it held the lock
  // (a watch hosting the owner is stopped by its own user, and ignores the mark).
  if (options.idleSeconds !== undefined && takeStopMark(home.root)) {
    await replica.shutdown().catch(() => {});
    await release().catch(() => {});
    return undefined;
  }
  // The owner runs every routed command of its home: the key pair derived from the key
  // file is kept while that file stays the same, unchanged and private (identities.ts).
  keepSigningKeys();
  // This process is the owner now: the home's claim names it until it stops, so a command
  // that did its work without it (it was busy, or still starting) spawns no other.
  const claimToken = holdOwnerClaim(home.root, options.claimToken);
  const socketPath = ownerSocketOf(home.root);
  // A socket left by a crashed owner: this process holds the lock, so it is stale.
  await unlink(socketPath).catch(() => {});
  const server = createServer((socket) => serve(socket));
  const previousMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => resolve());
    });
    await chmod(socketPath, 0o600);
  } catch {
    process.umask(previousMask);
    server.close();
    releaseOwnerClaim(home.root, claimToken);
    await release().catch(() => {});
    return undefined;
  } finally {
    process.umask(previousMask);
  }
  // The socket is looked at with asynchronous calls only: see NODE_20_SOCKET_STAT in owner-client.ts.
  const socketInode = (await lstat(socketPath)).ino;

  holdReplica(replica);
  captureOutput();

  // A job that fails does not stop the ones after it (command-queue.ts).
  const queue = new CommandQueue((error) =>
    trace(`a job of the owner failed: ${(error as Error)?.message ?? String(error)}`),
  );
  let connectSoon = () => {};
  let subscribeAll = () => {};
  let running = 0;
  /** Commands accepted and not yet done, their caches written after the answer included. */
  let commands = 0;
  let lastActive = Date.now();
  let stopping: Promise<void> | undefined;
  let markStopped = () => {};
  const stopped = new Promise<void>((resolve) => {
    markStopped = resolve;
  });

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(tick);
      server.close();
      // Every command accepted finishes first (its client waits for its answer); what
      // the owner does on its own between commands (opening its relay connection,
      // refreshing the caches) reports nothing done to anyone, and is waited for only
      // STOP_STEP_MS: a stop never waits on a peer that does not answer.
      const began = Date.now();
      while (!(await settlesWithin(queue.settled(), 250))) {
        if (commands === 0 && Date.now() - began >= STOP_STEP_MS) {
          trace("the owner stops without waiting any longer for its work between commands");
          break;
        }
      }
      clearRefreshMark(home.root);
      if (await socketStillOurs()) await unlink(socketPath).catch(() => {});
      closeHeldSessions();
      holdReplica(undefined);
      // What a command reported done is on disk already (kill -9 loses none of it): the
      // replica's last flush and its disconnect are not worth keeping the home for.
      if (!(await settlesWithin(replica.shutdown(), STOP_STEP_MS)))
        trace(`the replica did not shut down within ${STOP_STEP_MS} ms; the owner stops anyway`);
      releaseOwnerClaim(home.root, claimToken);
      await release().catch(() => {});
      markStopped();
    })();
    return stopping;
  };
  compromised = () => void stop();

  async function socketStillOurs(): Promise<boolean> {
    try {
      return (await lstat(socketPath)).ino === socketInode;
    } catch {
      return false;
    }
  }

  // Every second: gone when the socket was removed (the home deleted, `owner --stop` unable to connect) or idle too long.
  const tick = setInterval(async () => {
    if (!(await socketStillOurs())) void stop();
    else if (
      options.idleSeconds !== undefined &&
      running === 0 &&
      Date.now() - lastActive > options.idleSeconds * 1000
    )
      void stop();
  }, 1_000);
  tick.unref();

  function serve(socket: Socket): void {
    const reader = new LineReader(MAX_OWNER_REQUEST_BYTES);
    let request: OwnerRequest | undefined;
    /** Set once the request was refused or answered, or its command started: nothing read after changes it. */
    let finished = false;
    let extraNoted = false;
    const send = (frame: Record<string, unknown>) => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(frame)}\n`);
    };
    // A peer that keeps its end open after the exchange does not keep the connection.
    const endSoon = () => {
      socket.end();
      setTimeout(() => socket.destroy(), END_GRACE_MS).unref();
    };
    const refuse = (reason: string) => {
      finished = true;
      clearTimeout(goTimer);
      send({ t: "refused", reason });
      endSoon();
    };
    const goTimer = setTimeout(
      () =>
        refuse(
          request === undefined
            ? `no request line within ${GO_TIMEOUT_MS / 1000} s`
            : `no go within ${GO_TIMEOUT_MS / 1000} s of being accepted`,
        ),
      GO_TIMEOUT_MS,
    );
    socket.on("error", () => {});
    socket.on("close", () => clearTimeout(goTimer));
    // Every complete line is handled, whatever the split of the writes: a request and its
    // `go` sent in one write are both read now, not the `go` at the next write (which never came).
    socket.on("data", (chunk: Buffer) => {
      const { lines, overlong } = reader.push(chunk);
      for (const line of lines) {
        if (finished) {
          // One request per connection: what follows `go` (a second request) is not run.
          if (!extraNoted && request?.op === "run" && !socket.destroyed) {
            extraNoted = true;
            send({
              t: "err",
              d: "canon: the owner runs one request per connection; what was sent after `go` is ignored\n",
            });
          }
          return;
        }
        handleLine(line);
      }
      if (overlong && !finished)
        refuse(`an owner request line is at most ${MAX_OWNER_REQUEST_BYTES} bytes`);
    });

    function handleLine(bytes: Buffer) {
      let line: string;
      try {
        line = utf8.decode(bytes);
      } catch {
        return refuse("an owner request is one line of UTF-8 JSON (this is not UTF-8)");
      }
      if (request === undefined) {
        try {
          request = parseOwnerRequest(line);
        } catch (error) {
          return refuse(isCanonError(error) ? error.message : "bad request");
        }
        if (request.version !== CLI_VERSION)
          return refuse(`this owner is canon ${CLI_VERSION}, not ${request.version}`);
        if (stopping) return refuse("the owner is stopping");
        // Only what a thin client routes here: any other command (`watch`, which would hold
        // the queue for ever, `owner`, `init`, one reading standard input) runs in its caller.
        if (request.op === "run" && !isRouted(request.argv))
          return refuse(
            `the owner does not run \`canon ${request.argv.slice(0, 2).join(" ").slice(0, 80)}\``,
          );
        if (request.op === "status") {
          finished = true;
          clearTimeout(goTimer);
          send({ t: "accepted", pid: process.pid });
          send({
            t: "out",
            d: `${JSON.stringify({ pid: process.pid, version: CLI_VERSION, home: home.root, busy: running, idleSeconds: options.idleSeconds ?? null })}\n`,
          });
          send({ t: "exit", code: 0 });
          endSoon();
          return;
        }
        send({ t: "accepted", pid: process.pid });
        return;
      }
      if (line !== "go") return refuse("expected go");
      finished = true;
      clearTimeout(goTimer);
      const current = request;
      if (current.op !== "run") {
        send({ t: "exit", code: 0 });
        endSoon();
        void stop();
        return;
      }
      const { argv, cwd } = current;
      running += 1;
      commands += 1;
      const alive = setInterval(() => send({ t: "alive" }), 1_000);
      queue.add(async () => {
        // What this command loads or writes is what it touched, not every document loaded before.
        replica.forgetTouched();
        let code = 1;
        const after: AfterAnswer[] = [];
        const began = performance.now();
        try {
          code = await collectAfterAnswer(after, () =>
            runCommand(argv, cwd, (stream, text) => send({ t: stream, d: text })),
          );
          const ran = performance.now();
          await untilRelaysHold(replica, PUSH_TIMEOUT_MS);
          if (process.env.CANON_OWNER_TRACE)
            process.stderr.write(
              `owner: ${argv[0]} ran ${(ran - began).toFixed(1)} ms, reached the relay ${(performance.now() - ran).toFixed(1)} ms later, at ${Date.now()}\n`,
            );
        } catch (error) {
          send({ t: "err", d: `canon: the owner failed: ${(error as Error).message}\n` });
        } finally {
          clearInterval(alive);
          running -= 1;
          lastActive = Date.now();
          // What the command left for after its answer (its caches) is written now, the
          // next command queued behind it; a read started meanwhile waits for the mark to go.
          if (after.length > 0) setRefreshMark(home.root);
          send({ t: "exit", code });
          endSoon();
          try {
            if (after.length > 0) {
              const answered = performance.now();
              // It may throw (the home lock not taken in time): the caches then stay stale, which
              // the next read sees, and the mark, the count and the subscriptions below still move.
              await runAfterAnswer(home, after);
              if (process.env.CANON_OWNER_TRACE)
                process.stderr.write(
                  `owner: ${argv[0]}'s caches written ${(performance.now() - answered).toFixed(1)} ms after its answer\n`,
                );
            }
          } finally {
            if (after.length > 0 && !refreshPending) clearRefreshMark(home.root);
            commands -= 1;
            subscribeAll();
            connectSoon();
          }
        }
      });
    }
  }

  // What arrives from a relay between commands is folded and written to the
  // caches at once (as a watch does): the next `sync` finds nothing left to
  // do, and `show` reads it without any command having run.
  // Until that is done, the refresh mark makes a read started meanwhile wait for it.
  let refreshPending = false;
  const refreshSoon = () => {
    if (refreshPending || stopping) return;
    refreshPending = true;
    setRefreshMark(home.root);
    setTimeout(() => {
      queue.add(async () => {
        refreshPending = false;
        try {
          if (running > 0 || stopping) return;
          replica.forgetTouched();
          const began = performance.now();
          await refreshArrived(home, replica, await signerIfAny({}));
          subscribeAll();
          if (process.env.CANON_OWNER_TRACE)
            process.stderr.write(
              `owner: caches refreshed in ${(performance.now() - began).toFixed(1)} ms, at ${Date.now()}\n`,
            );
        } catch (error) {
          if (process.env.CANON_OWNER_TRACE)
            process.stderr.write(`owner: refresh failed: ${(error as Error).message}\n`);
          // The next command that loads the space reports what is wrong.
        } finally {
          if (!refreshPending) clearRefreshMark(home.root);
        }
      });
    }, REFRESH_DEBOUNCE_MS).unref();
  };
  const subscribed = new WeakSet<object>();
  const subscribe = (handle: { on(event: "change", listener: () => void): unknown }) => {
    if (subscribed.has(handle)) return;
    subscribed.add(handle);
    handle.on("change", () => {
      if (process.env.CANON_OWNER_TRACE)
        process.stderr.write(`owner: a change arrived at ${Date.now()}\n`);
      if (running === 0) refreshSoon();
    });
  };
  // automerge-repo 2.5 emits no event for a handle it loads: every handle is
  // looked at after each command, each connection and each refresh instead.
  subscribeAll = () => {
    for (const handle of Object.values(replica.repo.handles)) subscribe(handle);
  };
  subscribeAll();

  // A standalone owner holds a live connection to its space's relay, opened when it
  // starts and again after a command when it was lost (at most every CONNECT_RETRY_MS
  // while that fails): see docs/decisions/2026-11-30-round-trip.md. A watch hosting
  // the owner holds its own.
  let lastConnectFailure = 0;
  connectSoon = () => {
    if (options.idleSeconds === undefined || stopping) return;
    if (Date.now() - lastConnectFailure < CONNECT_RETRY_MS) return;
    queue.add(async () => {
      if (stopping) return;
      try {
        const connected = await keepConnected(home, replica, CONNECT_TIMEOUT_MS);
        subscribeAll();
        if (process.env.CANON_OWNER_TRACE) process.stderr.write(`owner: connection ${connected}\n`);
      } catch (error) {
        lastConnectFailure = Date.now();
        if (process.env.CANON_OWNER_TRACE)
          process.stderr.write(`owner: could not connect: ${(error as Error).message}\n`);
      }
    });
  };
  connectSoon();

  // A standalone owner stops on a signal; a watch hosting one stops it itself, after its own loop.
  if (options.idleSeconds !== undefined)
    for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => void stop());
  return { replica, stopped, stop };
}

/** Runs one command in this process, its output sent to `write`; resolves with its exit status. */
async function runCommand(
  argv: readonly string[],
  cwd: string,
  write: Sink["write"],
): Promise<number> {
  const { runProgram } = await import("../program.js");
  try {
    process.chdir(cwd);
  } catch {
    write("err", `canon: cannot work in ${cwd} (it no longer exists?)\n`);
    return 1;
  }
  const exitCode = process.exitCode;
  process.exitCode = undefined;
  try {
    return await sinks.run({ write }, () => runProgram(["node", "canon", ...argv]));
  } finally {
    process.exitCode = exitCode;
  }
}

let captured = false;
/** Sends what a routed command prints to its client; anything else prints as usual. */
function captureOutput(): void {
  if (captured) return;
  captured = true;
  for (const [stream, name] of [
    [process.stdout, "out"],
    [process.stderr, "err"],
  ] as const) {
    const original = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown) => {
      const sink = sinks.getStore();
      if (sink === undefined)
        return original(chunk, encoding as BufferEncoding, callback as () => void);
      sink.write(name, typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
      const done = typeof encoding === "function" ? encoding : callback;
      if (typeof done === "function") queueMicrotask(() => (done as () => void)());
      return true;
    }) as typeof stream.write;
  }
}
