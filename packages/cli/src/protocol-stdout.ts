import { Writable } from "node:stream";

/**
 * Takes stdout for a protocol (MCP over stdio): returns a stream writing to
 * the real stdout, and sends everything else any code writes to
 * `process.stdout` (a stray log, a library's console.log) to stderr, so
 * stdout carries protocol messages only. The returned stream also bypasses
 * the owner's per-command capture of `process.stdout`, so a message sent
 * while a routed command runs still reaches the client.
 */
export function takeStdoutForProtocol(): Writable {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      write(chunk, (error?: Error | null) => done(error ?? null));
    },
  });
}
