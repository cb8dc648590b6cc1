import { realpathSync } from "node:fs";
import { resolve } from "node:path";
import { clientConfig, type ServedScope, serveMcp } from "@canon/mcp";
import { findProjectDir } from "@canon/store";
import { home, signerIfAny } from "../context.js";
import { escapeControls, type GlobalOptions, print } from "../output.js";
import { hostOwner } from "../owner/host-owner.js";
import { CLI_VERSION } from "../owner/owner-socket.js";
import { takeStdoutForProtocol } from "../protocol-stdout.js";

/** `canon mcp` options. */
interface McpOptions extends GlobalOptions {
  readonly project?: string;
  readonly relay?: string;
  readonly token?: string;
  readonly printConfig?: string;
}

/**
 * `canon mcp [--project <dir>] [--relay <ws-url>]`: an MCP server over stdio
 * serving the project's pinned context (or, with --space, a whole space), as
 * its home's owner, connected to the relay for live updates.
 * `--print-config <client>` prints a client's configuration instead.
 */
export async function run(options: McpOptions): Promise<void> {
  if (options.printConfig !== undefined) return printConfig(options, options.printConfig);
  const protocol = takeStdoutForProtocol();
  const log = (line: string) => process.stderr.write(`${escapeControls(line)}\n`);
  const stop = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => stop.abort());
  const dir =
    options.space === undefined || options.project !== undefined
      ? await findProjectDir(process.cwd(), options.project)
      : undefined;
  const scope: ServedScope =
    dir === undefined
      ? { kind: "space", space: options.space }
      : { kind: "project", dir, space: options.space };
  if (dir === undefined && options.space === undefined)
    log(
      `canon: no canon.json in ${process.cwd()} or its parents: serving the home's default space`,
    );
  // A long-running process on a home is its owner, as a watch is: commands from
  // other shells run in its replica and go out through its relay connection.
  const owner = await hostOwner();
  try {
    await serveMcp({
      home: home(),
      scope,
      root: dir ?? process.cwd(),
      identity: options.as,
      relay: options.relay,
      token: options.token,
      checkpointAs: await signerIfAny(options),
      version: CLI_VERSION,
      output: protocol,
      log,
      signal: stop.signal,
    });
  } finally {
    await owner?.stop();
  }
}

/** Prints the configuration a client reads to start this server on this machine. */
async function printConfig(options: McpOptions, client: string): Promise<void> {
  const project = await findProjectDir(process.cwd(), options.project);
  const args = [
    "mcp",
    ...(project === undefined ? [] : ["--project", project]),
    ...(options.space === undefined ? [] : ["--space", options.space]),
    ...(options.as === undefined ? [] : ["--as", options.as]),
  ];
  const config = clientConfig(client, {
    node: process.execPath,
    cli: realpathSync(resolve(process.argv[1] ?? "canon")),
    args,
    canonHome: home().root,
  });
  print(options, { client, file: config.file, config: JSON.parse(config.json) }, () => {
    process.stderr.write(`canon: put this in ${config.file} (or merge it into the one there)\n`);
    return config.json;
  });
}
