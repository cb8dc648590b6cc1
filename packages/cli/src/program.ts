import { Command, CommanderError, Option } from "commander";
import { collect } from "./arguments.js";
import { addHelpText } from "./help-text.js";
import { escapeControls, type GlobalOptions } from "./output.js";

/** A command module: `run(options, ...positional arguments)`. */
// biome-ignore lint/suspicious/noExplicitAny: each command declares its own options and arguments.
type Loader = () => Promise<{ run: (options: any, ...args: any[]) => Promise<void> }>;

/** Commander calls actions with (...arguments, options, command); each command's code is a chunk loaded only when it runs. */
function action(load: Loader) {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const options: GlobalOptions = command.optsWithGlobals();
    const { run } = await load();
    await run(options, ...args.slice(0, -2));
  };
}

/** The `canon` command line: every command, its options and help. */
const program = new Command("canon")
  .description(
    "Keep independent AI agents aligned on shared, versioned, content-addressed context.",
  )
  .version("0.1.0")
  .addOption(new Option("--json", "print machine-readable JSON"))
  .addOption(new Option("--as <name>", "act as this identity (default: the owner's own)"))
  .addOption(
    new Option(
      "--space <url|name>",
      "act on this space, by URL or by its unique name (default: the last created or joined)",
    ),
  )
  .addOption(new Option("--debug", "show stack traces on errors"))
  .configureHelp({ showGlobalOptions: true, sortSubcommands: true })
  .showSuggestionAfterError(true)
  .exitOverride()
  .configureOutput({
    outputError: (message, write) =>
      write(
        `canon: ${escapeControls(
          message
            .replace(/^error: /, "")
            .trim()
            .replace(/\s*\n\s*/g, " "),
        )}\n`,
      ),
  });

program
  .command("init")
  .description("create this owner's identity (if none) and print its did")
  .action(action(() => import("./commands/init.js")));

const id = program.command("id").description("show or create identities");
id.command("show", { isDefault: true })
  .description("print the current identity (see --as)")
  .action(action(() => import("./commands/id-show.js")));
id.command("new")
  .description("create a named agent identity")
  .requiredOption("--name <name>", "the identity's name, e.g. writer-agent")
  .action(action(() => import("./commands/id-new.js")));
id.command("ls")
  .description("list identities in this home")
  .action(action(() => import("./commands/id-ls.js")));

const space = program.command("space").description("create and choose spaces");
space
  .command("create")
  .description("create a space (you become its first maintainer) and make it the default")
  .argument("<name>", 'a name for people, e.g. "the publication" (then also `--space <name>`)')
  .option("--force", "create it even if this home already has a space of that name")
  .action(action(() => import("./commands/space-create.js")));
space
  .command("join")
  .description(
    "join a space through a relay: remember the relay, fetch the space, make it the default",
  )
  .argument("<url>", "the space URL (canon:<document-id>/<genesis-cid>)")
  .requiredOption(
    "--relay <ws-url>",
    "relay (or serving peer) to fetch from, e.g. ws://relay.example:3030",
  )
  .option("--token <secret>", "token the relay requires")
  .option("--timeout <seconds>", "give up after this long", "30")
  .action(action(() => import("./commands/space-join.js")));
space
  .command("settings")
  .description("sign new settings for the space (maintainers): how long a checkpoint stays valid")
  .requiredOption(
    "--checkpoint-expiry <duration>",
    "e.g. 30m, 12h, 7d (default 7d): a reader whose newest checkpoint is older says its view may be frozen",
  )
  .action(action(() => import("./commands/space-settings.js")));
space
  .command("ls")
  .description("list the spaces this home knows")
  .option("--show-tokens", "include relay tokens in --json output (hidden otherwise)")
  .action(action(() => import("./commands/space-ls.js")));

const member = program.command("member").description("manage who may do what in the space");
member
  .command("add")
  .description(
    "grant a did a role (maintainers publish and manage members; contributors add corrections and provenance; readers read)",
  )
  .argument("<did>", "the member's did:key (they print it with `canon id`)")
  .requiredOption("--role <role>", "maintainer, contributor or reader")
  .action(action(() => import("./commands/member-add.js")));
member
  .command("remove")
  .description("remove a member: what they published before stays valid, anything later is refused")
  .argument("<did>", "the member's did:key")
  .action(action(() => import("./commands/member-remove.js")));
member
  .command("ls")
  .description("list members and their roles")
  .action(action(() => import("./commands/member-ls.js")));

program
  .command("publish")
  .description(
    "publish a file, or a folder as one bundle, as the next version of a standard (identical content is not a new version)",
  )
  .argument("<standard>", "standard name, e.g. editorial-style or skills/codeql")
  .argument(
    "<file>",
    "file whose exact bytes become the new version, or folder whose files (paths, bytes, executable bits) do",
  )
  .option("-m, --message <message>", "what changed", "")
  .option(
    "--incorporates <id...>",
    "open corrections (by id) this version folds in; they close once every head has them",
  )
  .option("--force", "publish a new version even when the content equals the latest")
  .action(action(() => import("./commands/publish.js")));

program
  .command("show")
  .description(
    "print a standard's content: the latest, or <standard>@<version> or <standard>@<cid>",
  )
  .argument("<standard>", "standard[@version|@cid]")
  .option(
    "--rendered",
    "print what agents read: the release followed by the corrections in force (its own CID)",
  )
  .option(
    "--require-fresh",
    "exit 8 unless a current checkpoint proves this replica's view complete",
  )
  .option("--file <path>", "a bundle's file to print, by its path in the bundle")
  .action(action(() => import("./commands/show.js")));

program
  .command("export")
  .description(
    "write a release out as files: a bundle's tree with its executable bits, or a single file named after the last segment of the standard's name",
  )
  .argument("<standard>", "standard[@version|@cid]")
  .argument("<dir>", "folder to write into (created when missing)")
  .option("--force", "overwrite existing files whose bytes differ")
  .action(action(() => import("./commands/export.js")));

program
  .command("correct")
  .description(
    "record a correction to a standard (contributors and maintainers): in force for every agent from its next sync, until a version incorporates it",
  )
  .argument("[standard]", "the standard it corrects")
  .argument("[text]", 'the lesson, e.g. "No inline code formatting in non-technical articles."')
  .option(
    "--evidence <output|cid>",
    "what went wrong: a stamped output file (its stamp is recorded) or a record's CID",
  )
  .option(
    "--withdraw <id>",
    "close a correction without a new version (its author or a maintainer)",
  )
  .option("--reason <text>", "why it is withdrawn (with --withdraw)")
  .action(action(() => import("./commands/correct.js")));

program
  .command("corrections")
  .description("list a standard's corrections: id, author, date, evidence, state")
  .argument("<standard>", "standard name")
  .addOption(new Option("--open", "only those in force (the default)").conflicts("all"))
  .option("--all", "every correction, with who incorporated or withdrew it")
  .action(action(() => import("./commands/corrections.js")));

program
  .command("stamp")
  .description(
    "sign what an output was produced with (releases and open corrections) into <output>.canon.json",
  )
  .argument("<output>", "the output file")
  .option(
    "--standard <standard>",
    "a standard of the context: name, name@version or name@cid (repeatable; default: every standard at its latest)",
    collect,
  )
  .addOption(
    new Option(
      "--format <format>",
      "the sidecar's form: canon, or in-toto (a Statement v1 in a DSSE envelope)",
    )
      .choices(["canon", "in-toto"])
      .default("canon"),
  )
  .action(action(() => import("./commands/stamp.js")));

program
  .command("export-stamp")
  .description(
    "print a stamp from the feeds as an in-toto Statement v1 in a DSSE envelope, signed with its author's key",
  )
  .argument("<cid>", "the stamp's CID")
  .option("-o, --out <file>", "write it to a file instead of stdout")
  .action(action(() => import("./commands/export-stamp.js")));

program
  .command("verify")
  .description(
    "check an output against its stamp and the shared history: who, with which context, was it current",
  )
  .argument(
    "[output]",
    "the output file (with no sidecar, its stamps are found in the space's feeds by its sha256)",
  )
  .option(
    "--stamp <file|cid>",
    "its stamp: a sidecar file (default: <output>.canon.json when it exists), or a stamp's CID to find in the feeds",
  )
  .option("--feeds", "look in the space's feeds even when a sidecar exists")
  .option(
    "--strict",
    "exit 10 when the output verifies but its context was stale when stamped (a newer release or a correction existed)",
  )
  .option(
    "--require-fresh",
    "exit 8 unless the auditor's view is proven complete and current by a checkpoint",
  )
  .action(action(() => import("./commands/verify.js")));

program
  .command("agents")
  .description(
    "every agent that has stamped in the space: its newest stamped version of each standard against the latest (-Nv versions, -Mc open corrections behind) and when it last stamped",
  )
  .action(action(() => import("./commands/agents.js")));

program
  .command("log")
  .description("list a standard's versions with CIDs, authors, times and messages")
  .argument("<standard>", "standard name")
  .action(action(() => import("./commands/log.js")));

program
  .command("retire")
  .description(
    "retire a standard (maintainers): it leaves `ls` and default stamps; its log, pinned reads and old stamps still work",
  )
  .argument("<standard>", "standard name")
  .option("-m, --message <why>", "why it is retired", "")
  .action(action(() => import("./commands/retire.js")));

program
  .command("unretire")
  .description("bring a retired standard back (maintainers)")
  .argument("<standard>", "standard name")
  .action(action(() => import("./commands/unretire.js")));

program
  .command("checkpoint")
  .description(
    "sign a checkpoint of the space now (maintainers): its heads and an expiry, so readers can prove their view complete and current (a maintainer's sync signs one when due)",
  )
  .action(action(() => import("./commands/checkpoint.js")));

program
  .command("ls")
  .description("list the standards in the space with their latest version")
  .option("--all", "also list retired standards")
  .option(
    "--require-fresh",
    "exit 8 unless the newest checkpoint is current and this replica holds all it names",
  )
  .action(action(() => import("./commands/ls.js")));

program
  .command("sync")
  .description(
    "exchange every document of the space with a relay or peer, wait until both hold the same, and exit",
  )
  .option(
    "--relay <ws-url>",
    "relay or serving peer (default: the one remembered for the space; remembered if none is)",
  )
  .option("--token <secret>", "token the relay requires")
  .option("--remember", "make --relay (and --token) the space's relay from now on")
  .option("--timeout <seconds>", "give up after this long", "30")
  .action(action(() => import("./commands/sync.js")));

program
  .command("watch")
  .description("stay connected to the relay and print each new release or change as it arrives")
  .option("--relay <ws-url>", "relay or serving peer (default: the one remembered for the space)")
  .option("--token <secret>", "token the relay requires")
  .action(action(() => import("./commands/watch.js")));

program
  .command("mcp")
  .description(
    "serve the project's context over the Model Context Protocol on stdio (resources, prompts, canon_* tools, live updates)",
  )
  .option(
    "--project <dir>",
    "the project whose canon.json and canon.lock to serve (default: the nearest)",
  )
  .option(
    "--relay <ws-url>",
    "relay to stay connected to (default: the one remembered for the space)",
  )
  .option("--token <secret>", "token the relay requires")
  .option(
    "--print-config <client>",
    "print the configuration of claude-code, cursor or vscode that starts this server on this machine",
  )
  .action(action(() => import("./commands/mcp.js")));

program
  .command("owner")
  .description(
    "this home's owner process, which commands that write or sync run through (started on demand; CANON_NO_OWNER=1 disables it)",
  )
  .option(
    "--status",
    "print the running owner process (pid, version), or one that holds the home but does not answer",
  )
  .option("--stop", "stop the running owner process")
  .action(action(() => import("./commands/owner.js")));

program
  .command("serve")
  .description(
    "serve this home's replica over WebSocket, so a peer can `canon sync --relay ws://host:port` without a relay",
  )
  .requiredOption("--port <port>", "port to listen on (0: any free port)")
  .option("--host <host>", "address to listen on", "127.0.0.1")
  .option("--token <secret>", "refuse peers without this token (with --tokens: the admin token)")
  .option(
    "--tokens <file>",
    "tokens per space, read-write or read-only (JSON, see apps/relay/README.md; or CANON_RELAY_TOKENS_FILE)",
  )
  .option(
    "--log-level <level>",
    "JSON-line logs on stderr: silent, error, warn (default, or CANON_RELAY_LOG_LEVEL), info, debug",
  )
  .option(
    "--evict-after <seconds>",
    "drop a document from memory after this long without a message about it (default 60, or CANON_RELAY_EVICT_AFTER_SECONDS; 0: never)",
  )
  .action(action(() => import("./commands/serve.js")));

program
  .command("relay")
  .description(
    "run a relay: store and forward documents for any number of owners (trusted for nothing: readers verify)",
  )
  .requiredOption("--port <port>", "port to listen on (0: any free port)")
  .option("--data <dir>", "directory for the relay's documents (or --database-url)")
  .option(
    "--database-url <url>",
    "store documents in PostgreSQL instead, shared by several relays (or CANON_RELAY_DATABASE_URL, which keeps the password out of the process list)",
  )
  .option(
    "--evict-after <seconds>",
    "drop a document from memory after this long without a message about it (default 60, or CANON_RELAY_EVICT_AFTER_SECONDS; 0: never)",
  )
  .option("--host <host>", "address to listen on", "127.0.0.1")
  .option(
    "--token <secret>",
    "refuse clients without this token (as ?token=, Authorization: Bearer, or X-Canon-Token); with --tokens it is the admin token, opening every space",
  )
  .option(
    "--tokens <file>",
    "tokens per space, read-write or read-only (JSON, see apps/relay/README.md; or CANON_RELAY_TOKENS_FILE)",
  )
  .option("--peer <ws-url>", "another relay to sync with (repeatable)", collect)
  .option(
    "--log-level <level>",
    "JSON-line logs on stderr: silent, error, warn (default, or CANON_RELAY_LOG_LEVEL), info, debug",
  )
  .option("--max-message-bytes <n>", "largest message a peer may send (default 32 MiB)")
  .option("--max-document-bytes <n>", "largest document the relay stores (default 32 MiB)")
  .option(
    "--receive-bytes-per-minute <n>",
    "bytes one connection may send per minute (default 64 MiB)",
  )
  .option(
    "--write-bytes-per-minute <n>",
    "bytes of new changes one connection may write per minute (default 32 MiB)",
  )
  .option(
    "--new-documents-per-minute <n>",
    "new documents one connection may create per minute (default 1000)",
  )
  .option(
    "--heads-requests-per-minute <n>",
    "GET /heads requests one address may make per minute (default 600)",
  )
  .option(
    "--check-millis-per-minute <n>",
    "milliseconds the relay may spend reading and checking one address's changes per minute; past it that address's next message waits (default 15000)",
  )
  .option(
    "--trusted-proxies <list>",
    "reverse proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For names the client for every per-address limit; none by default (or CANON_RELAY_TRUSTED_PROXIES)",
  )
  .addHelpText(
    "after",
    "\nEach limit flag, when absent, is read from its variable (--max-message-bytes from CANON_RELAY_MAX_MESSAGE_BYTES, and so on); with a database, the pools' sizes and waits come from CANON_RELAY_DATABASE_READ_CONNECTIONS, _WRITE_CONNECTIONS, _WAIT_MILLIS and _STATEMENT_MILLIS (apps/relay/README.md).",
  )
  .action(action(() => import("./commands/relay.js")));

const projectOption = () =>
  new Option("--project <dir>", "the project directory (default: the nearest holding canon.json)");

program
  .command("add")
  .description(
    "add a standard to this project's canon.json, with where it goes (then `canon pull`)",
  )
  .argument("<standard>", "standard name, e.g. skills/webapp-testing")
  .option(
    "--as, --target <type[:path]>",
    "a target (repeatable): skill, agents-md, claude-md, gemini-md, cursor-rule, copilot, copilot-instructions, file:<path> (default: from the name)",
    collect,
  )
  .option("--description <text>", "front matter description (cursor-rule, copilot-instructions)")
  .option("--globs <globs>", "front matter globs (cursor-rule)")
  .option("--always-apply", "front matter alwaysApply: true (cursor-rule)")
  .option("--apply-to <globs>", "front matter applyTo (copilot-instructions)")
  .option("--pin <version|cid>", "install this version, not the latest")
  .addOption(projectOption())
  .action(action(() => import("./commands/add.js")));

program
  .command("pull")
  .description(
    "write every standard of canon.json where its tools read it, then canon.lock (syncs first when the space has a relay)",
  )
  .option(
    "--frozen",
    "install exactly what canon.lock names; fail if it no longer matches canon.json",
  )
  .option(
    "--force",
    "overwrite files edited since the last pull (or not written by canon); refused otherwise",
  )
  .option("--offline", "do not sync first")
  .option("--timeout <seconds>", "bound of the sync before reading", "10")
  .addOption(projectOption())
  .action(action(() => import("./commands/pull.js")));

program
  .command("status")
  .description(
    "say per standard of canon.json: current, behind, modified, missing, forked or unknown (offline)",
  )
  .option("--check", "exit 9 unless every standard is current (for CI)")
  .addOption(projectOption())
  .action(action(() => import("./commands/status.js")));

program
  .command("import")
  .description(
    "publish a repository's agent context (skill folders, Cursor rules, Copilot instructions, AGENTS.md, CLAUDE.md, GEMINI.md) and write its canon.json and canon.lock",
  )
  .argument("<path>", "the repository's directory")
  .option("--prefix <prefix>", "put every name under this prefix, e.g. team/")
  .option("-m, --message <message>", "release message (default: where it was imported from)")
  .action(action(() => import("./commands/import.js")));

program
  .command("run")
  .description(
    "pull, run a command with CANON_LOCK and CANON_CONTEXT_DIR set, stamp its outputs when it exits 0, and exit with its status",
  )
  .argument("<command>", "the command to run (after --)")
  .argument("[args...]", "its arguments")
  .option("--frozen", "refuse to start when canon.lock no longer matches canon.json")
  .option("--offline", "do not sync first")
  .option("--stamp <glob>", "stamp every file matching this glob when the command exits 0")
  .option("--timeout <seconds>", "bound of the sync before running", "10")
  .addOption(projectOption())
  .action(action(() => import("./commands/run.js")));

program
  .command("doctor")
  .description("check every record from scratch; list those refused, and why")
  .action(action(() => import("./commands/doctor.js")));

addHelpText(program);

/** Parses the command line with commander and runs the command; returns the exit status. */
export async function runProgram(argv: readonly string[]): Promise<number> {
  try {
    await program.parseAsync(targetFlagsOfAdd(withoutHelpForUnknownCommand(argv)));
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    const { report } = await import("./report-error.js");
    return report(
      error,
      argv.includes("--debug"),
      error instanceof CommanderError,
      argv.includes("--json"),
    );
  }
}

/**
 * `canon add <standard> --as <target>` names a target, while `--as` is
 * everywhere else the global identity option (which add never needs, as it
 * signs nothing): after the word `add`, `--as` is read as `--target`.
 */
function targetFlagsOfAdd(argv: readonly string[]): string[] {
  const at = commandWordAt(argv);
  if (at < 0 || argv[at] !== "add") return [...argv];
  return argv.map((arg, i) =>
    i <= at
      ? arg
      : arg === "--as"
        ? "--target"
        : arg.startsWith("--as=")
          ? `--target=${arg.slice(5)}`
          : arg,
  );
}

/**
 * `canon agents --help` would print the main help and exit 0, hiding the
 * typo: for a command word that names no command, drop `--help` so the
 * parser reports it as unknown (with a suggestion) and exits 2.
 */
function withoutHelpForUnknownCommand(argv: readonly string[]): string[] {
  const word = argv[commandWordAt(argv)];
  const known = new Set(["help", ...program.commands.flatMap((c) => [c.name(), ...c.aliases()])]);
  if (word === undefined || known.has(word)) return [...argv];
  return argv.filter((arg, i) => i < 2 || (arg !== "--help" && arg !== "-h"));
}

/** Where the command word is in argv (after the global options and their values), or -1. */
function commandWordAt(argv: readonly string[]): number {
  const valued = new Set(["--as", "--space"]);
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (valued.has(arg)) i++;
    else if (!arg.startsWith("-")) return i;
  }
  return -1;
}
