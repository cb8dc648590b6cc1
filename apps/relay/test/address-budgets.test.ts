import { describe, expect, it } from "vitest";
import { AddressBudgets, addressKey } from "../src/guard/address-budgets.js";

describe("addressKey", () => {
  it("keeps an IPv4 address, also written as IPv6", () => {
    expect(addressKey("203.0.113.7")).toBe("203.0.113.7");
    expect(addressKey("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(addressKey("::ffff:cb00:7107")).toBe("203.0.113.7");
  });

  it("counts an IPv6 address as its /64, however it is written", () => {
    expect(addressKey("2001:db8:1:2::5")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:0db8:0001:0002:ffff:1:2:3")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:DB8:1:2:0:0:0:9")).toBe("2001:db8:1:2::/64");
    expect(addressKey("fe80::1%eth0")).toBe("fe80::/64");
    expect(addressKey("2001:db8:1:3::5")).toBe("2001:db8:1:3::/64");
  });

  it("keeps what is no address as it is, and an unknown address as one", () => {
    expect(addressKey(undefined)).toBe("?");
    expect(addressKey("not an address")).toBe("not an address");
  });
});

describe("AddressBudgets", () => {
  it("gives every address of one IPv6 /64 one budget, and another /64 its own", () => {
    const budgets = new AddressBudgets(10);
    // An attacker holding 2001:db8:1:2::/64 spends the budget from ten of its addresses...
    for (let host = 1; host <= 10; host += 1)
      expect(budgets.of(`2001:db8:1:2::${host.toString(16)}`).take(1)).toBe(true);
    // ...and an eleventh address of the same /64 finds it spent.
    expect(budgets.of("2001:db8:1:2:dead:beef:0:1").take(1)).toBe(false);
    // A neighbour on the next /64, and an IPv4 peer, keep theirs.
    expect(budgets.of("2001:db8:1:3::1").take(10)).toBe(true);
    expect(budgets.of("198.51.100.1").take(10)).toBe(true);
  });
});
