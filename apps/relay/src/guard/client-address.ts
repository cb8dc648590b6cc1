import type { IncomingMessage } from "node:http";
import { CanonError } from "@canon/core";
import ipaddr from "ipaddr.js";

/** One trusted range: an address and how many of its leading bits must match (32/128 for one address). */
type AddressRange = readonly [ipaddr.IPv4 | ipaddr.IPv6, number];

/**
 * The reverse proxies (addresses and CIDR ranges) whose `X-Forwarded-For`
 * the relay believes, parsed by {@link parseTrustedProxies}. Empty (the
 * default): no header is ever believed.
 */
export type TrustedProxies = readonly AddressRange[];

/** An IPv4 address only in its usual four-part decimal form, or an IPv6 address (`127.1` and `0x7f.0.0.1` are refused). */
function isPlainAddress(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text) || ipaddr.IPv6.isValid(text);
}

/** An address as the relay compares it: an IPv4 address written as IPv6 (`::ffff:1.2.3.4`) is the IPv4 address. */
function normalised(text: string): ipaddr.IPv4 | ipaddr.IPv6 {
  return ipaddr.process(text);
}

/**
 * Parses `CANON_RELAY_TRUSTED_PROXIES`: comma-separated addresses
 * (`10.0.0.5`, `::1`) or CIDR ranges (`10.0.0.0/8`, `fd00::/8`).
 * @throws CanonError `BAD_ARGUMENT` naming `name` and the first entry that is neither.
 */
export function parseTrustedProxies(value: string, name: string): TrustedProxies {
  const entries = value
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (entries.length === 0)
    throw new CanonError(
      "BAD_ARGUMENT",
      `${name} names no address: give addresses or CIDR ranges separated by commas, such as 10.0.0.5,fd00::/8`,
    );
  return entries.map((entry): AddressRange => {
    const slash = entry.indexOf("/");
    const address = slash === -1 ? entry : entry.slice(0, slash);
    const bad = () =>
      new CanonError(
        "BAD_ARGUMENT",
        `${name} has ${JSON.stringify(entry)}, which is not an IP address or a CIDR range such as 10.0.0.0/8 or fd00::/8`,
      );
    if (!isPlainAddress(address)) throw bad();
    if (slash === -1) {
      const parsed = normalised(address);
      return [parsed, parsed.kind() === "ipv4" ? 32 : 128];
    }
    if (!/^\d{1,3}$/.test(entry.slice(slash + 1))) throw bad();
    try {
      const [range, bits] = ipaddr.parseCIDR(entry);
      // `::ffff:10.0.0.0/104` is the IPv4 range 10.0.0.0/8.
      if (range.kind() === "ipv6" && (range as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96)
        return [(range as ipaddr.IPv6).toIPv4Address(), bits - 96];
      return [range, bits];
    } catch {
      throw bad();
    }
  });
}

/** A port as proxies append it: 1-65535 in decimal, no sign or leading zero. */
const PORT = /^[1-9]\d{0,4}$/;

/**
 * One `X-Forwarded-For` hop as an address, or undefined when it is none:
 * a plain address (`203.0.113.1`, `2001:db8::1`), or one with the port
 * the client connected from, as proxies write it (Azure's gateway,
 * some load balancers): `203.0.113.1:5678`, `[2001:db8::1]:443`, or
 * `[2001:db8::1]`. A bare IPv6 address is never read as one with a port
 * (`2001:db8::1:443` is an address).
 */
function hopAddress(hop: string): string | undefined {
  if (isPlainAddress(hop)) return hop;
  if (hop.startsWith("[")) {
    const close = hop.indexOf("]");
    const inside = hop.slice(1, close);
    const rest = hop.slice(close + 1);
    if (close === -1 || !ipaddr.IPv6.isValid(inside)) return undefined;
    return rest === "" ||
      (rest.startsWith(":") && PORT.test(rest.slice(1)) && Number(rest.slice(1)) <= 65535)
      ? inside
      : undefined;
  }
  const colon = hop.indexOf(":");
  if (colon === -1 || hop.indexOf(":", colon + 1) !== -1) return undefined;
  const address = hop.slice(0, colon);
  const port = hop.slice(colon + 1);
  return ipaddr.IPv4.isValidFourPartDecimal(address) && PORT.test(port) && Number(port) <= 65535
    ? address
    : undefined;
}

/** Whether `address` is in one of the `trusted` ranges. */
function isTrusted(address: ipaddr.IPv4 | ipaddr.IPv6, trusted: TrustedProxies): boolean {
  return trusted.some(
    ([range, bits]) => range.kind() === address.kind() && address.match(range, bits),
  );
}

/**
 * An address in the one form the relay keys, logs and compares it by: an
 * IPv4 address written as IPv6 (`::ffff:1.2.3.4`, as a dual-stack socket
 * reports an IPv4 peer) is the IPv4 address, an IPv6 address is in its
 * shortest form. Text that is no address is returned as it is.
 */
function canonical(address: string): string {
  return isPlainAddress(address) ? normalised(address).toString() : address;
}

/**
 * The address of the client a request comes from, on which every
 * per-address limit is kept (see `address-budgets.ts`), in one form
 * whichever way it arrived (`::ffff:1.2.3.4` from a dual-stack socket and
 * `1.2.3.4` from a proxy's header are both `1.2.3.4`): the socket's peer,
 * unless that peer is one of the `trusted` proxies, when it is the
 * right-most address of `X-Forwarded-For` that is not itself a trusted
 * proxy (each proxy appends the address it was reached from, so anything
 * left of that is written by the client and may be forged). An address may
 * carry the client's port (`1.2.3.4:5678`, `[2001:db8::1]:443`), which is
 * dropped. A header that is missing, empty or holds anything but addresses
 * counts as none: the proxy's own address is used. When every address in
 * it is trusted, the left-most one is.
 */
export function clientAddress(
  request: IncomingMessage,
  trusted: TrustedProxies,
): string | undefined {
  const raw = request.socket.remoteAddress;
  if (raw === undefined || !isPlainAddress(raw)) return raw;
  const peer = canonical(raw);
  if (trusted.length === 0 || !isTrusted(normalised(peer), trusted)) return peer;
  const header = request.headers["x-forwarded-for"];
  if (typeof header !== "string") return peer;
  const hops: string[] = [];
  for (const hop of header.split(",")) {
    const address = hopAddress(hop.trim());
    if (address === undefined) return peer;
    hops.push(address);
  }
  let client: ipaddr.IPv4 | ipaddr.IPv6 | undefined;
  for (let index = hops.length - 1; index >= 0; index--) {
    client = normalised(hops[index] as string);
    if (!isTrusted(client, trusted)) break;
  }
  return client === undefined ? peer : client.toString();
}

/**
 * {@link clientAddress} with `trusted`, computed once per request: the
 * upgrade's connection count and the connection's budgets then use the
 * same address, and its header is parsed once.
 */
export function requestAddresses(
  trusted: TrustedProxies,
): (request: IncomingMessage) => string | undefined {
  const known = new WeakMap<IncomingMessage, string | undefined>();
  return (request) => {
    if (known.has(request)) return known.get(request);
    const address = clientAddress(request, trusted);
    known.set(request, address);
    return address;
  };
}
