import { CanonError } from "@canon/core";
import { readCappedBody } from "./capped-body.js";
import { healthUrlOf, type RelayEndpoint } from "./relay-url.js";

/** Most bytes of a `/healthz` answer read (a relay's is under 100): past this, it is refused. */
const MAX_HEALTH_BYTES = 64 * 1024;

/** What a relay says about itself at `/healthz`. */
export interface RelayHealth {
  readonly ok: true;
  readonly peers: number;
  readonly documents: number;
}

/**
 * Asks a relay over plain HTTP whether it is up and accepts the token,
 * before any document is exchanged. automerge-repo's client adapter turns a
 * refused WebSocket upgrade into an uncaught exception, so the refusal is
 * learned here instead, as a clear error.
 * @throws CanonError `RELAY_UNREACHABLE` (nothing answers within the timeout, or not a Canon relay),
 * `RELAY_REFUSED` (the token is missing or wrong, or the answer is longer than 64 KiB:
 * a server streaming without end into this process).
 */
export async function probeRelay(endpoint: RelayEndpoint, timeoutMs: number): Promise<RelayHealth> {
  const shown = endpoint.url;
  let response: Response;
  try {
    response = await fetch(healthUrlOf(endpoint), { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const failure = error as Error & { cause?: { code?: string; message?: string } };
    const cause = failure.cause?.code ?? failure.cause?.message ?? failure.name;
    const why =
      cause === "TimeoutError" ? `no answer within ${Math.round(timeoutMs / 1000)} s` : cause;
    throw new CanonError(
      "RELAY_UNREACHABLE",
      `cannot reach relay ${shown} (${why}); your local replica is unchanged and still readable`,
    );
  }
  if (response.status === 401 || response.status === 403) {
    throw new CanonError(
      "RELAY_REFUSED",
      `relay ${shown} refused the token (${endpoint.token ? "wrong token" : "no token given; pass --token"})`,
    );
  }
  let body: unknown;
  try {
    const bytes = await readCappedBody(response, MAX_HEALTH_BYTES);
    if (bytes === "too-large")
      throw new CanonError(
        "RELAY_REFUSED",
        `${shown} answered /healthz with more than ${MAX_HEALTH_BYTES / 1024} KiB (a Canon relay's is a line): refused, nothing kept from it; check the relay URL`,
      );
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    if (error instanceof CanonError) throw error;
    body = undefined;
  }
  const health = body as Partial<RelayHealth> | undefined;
  if (!response.ok || health?.ok !== true || typeof health.peers !== "number") {
    throw new CanonError(
      "RELAY_UNREACHABLE",
      `${shown} answered, but not as a Canon relay (HTTP ${response.status})`,
    );
  }
  return health as RelayHealth;
}
