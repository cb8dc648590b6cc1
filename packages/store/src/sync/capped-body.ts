/**
 * Reads a response's body whole, unless it is longer than `maxBytes`: a
 * declared `Content-Length` past it is refused before a byte is read, a body
 * as soon as it passes it (the stream is cancelled, the connection closed).
 * For answers from a relay, which may stream without end into this
 * process's memory. `"too-large"` when refused, the bytes otherwise.
 * @throws what reading the stream throws (a reset connection, an abort).
 */
export async function readCappedBody(
  response: Response,
  maxBytes: number,
): Promise<Uint8Array | "too-large"> {
  const body = response.body;
  if (body === null) return new Uint8Array(0);
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > maxBytes) {
    await body.cancel().catch(() => {});
    return "too-large";
  }
  const chunks: Uint8Array[] = [];
  let length = 0;
  // Leaving the loop early cancels the stream.
  for await (const chunk of body) {
    length += chunk.length;
    if (length > maxBytes) return "too-large";
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
