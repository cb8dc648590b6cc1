import { type Readable, Transform, type Writable } from "node:stream";
import { ErrorCode, JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js";

/** Longest message the server reads; a longer line is dropped, not buffered. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * Stands between stdin and the SDK's stdio transport so that no input ends
 * the server: a line longer than {@link MAX_MESSAGE_BYTES} is dropped as it
 * streams (the transport would close on a 10 MB buffer), a line that is not
 * JSON gets a JSON-RPC parse error (-32700), JSON that is not a JSON-RPC
 * message an invalid-request error (-32600, with its id when it has one);
 * every other line passes through unchanged. Each drop is logged.
 */
export function guardedInput(
  input: Readable,
  output: Writable,
  log: (line: string) => void,
): Readable {
  let line: Buffer[] = [];
  let length = 0;
  let dropping = false;
  const answer = (id: unknown, code: number, message: string) => {
    const safeId = typeof id === "string" || typeof id === "number" ? id : null;
    output.write(`${JSON.stringify({ jsonrpc: "2.0", id: safeId, error: { code, message } })}\n`);
  };
  const check = (text: string): boolean => {
    if (text.trim() === "") return false;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      log("canon: mcp: a line that is not JSON was answered with a parse error");
      answer(null, ErrorCode.ParseError, "Parse error: each message is one line of JSON");
      return false;
    }
    if (JSONRPCMessageSchema.safeParse(value).success) return true;
    log("canon: mcp: JSON that is not a JSON-RPC 2.0 message was answered with an error");
    const id = typeof value === "object" && value !== null ? (value as { id?: unknown }).id : null;
    answer(id, ErrorCode.InvalidRequest, "Invalid Request: not a JSON-RPC 2.0 message");
    return false;
  };
  const guard = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      let start = 0;
      for (;;) {
        const end = chunk.indexOf(10, start);
        const piece = chunk.subarray(start, end === -1 ? chunk.length : end);
        if (!dropping) {
          length += piece.length;
          if (length > MAX_MESSAGE_BYTES) {
            dropping = true;
            line = [];
            log(`canon: mcp: dropped a message longer than ${MAX_MESSAGE_BYTES} bytes`);
            answer(
              null,
              ErrorCode.InvalidRequest,
              `a message is at most ${MAX_MESSAGE_BYTES} bytes`,
            );
          } else line.push(piece);
        }
        if (end === -1) break;
        if (!dropping) {
          const text = Buffer.concat(line).toString("utf8");
          if (check(text)) this.push(`${text}\n`);
        }
        line = [];
        length = 0;
        dropping = false;
        start = end + 1;
      }
      done();
    },
  });
  input.on("error", (error) => guard.destroy(error));
  return input.pipe(guard);
}
