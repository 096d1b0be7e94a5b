//! Classification of IP addresses against the built-in special-purpose ranges.
//!
//! The tables follow the IANA "IPv4 Special-Purpose Address Registry" and
//! "IPv6 Special-Purpose Address Registry" (RFC 6890 and its updates), plus
//! the ranges that are outside those registries but just as unroutable:
//! IPv4 multicast (224.0.0.0/4), IPv6 multicast (ff00::/8), the deprecated
//! IPv6 site-local (fec0::/10) and IPv4-compatible (::/96) ranges, and every
//! block of the IANA "IPv6 Address Space" registry outside 2000::/3, the only
//! block allocated for global unicast.
//!
//! Every registry entry is blocked, including the few the registries mark
//! "globally reachable: true" (PCP and TURN anycast, AS112, AMT, NAT64
//! 64:ff9b::/96, ORCHIDv2, DRIP): they are routing and translation
//! infrastructure that serves no web content, and the translators would let a
//! script reach an IPv4 address through an IPv6 spelling of it.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One built-in blocked range: why an address is not a public destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialRange {
  /// Short category, e.g. `"loopback"`, `"private-use"`, `"link-local"`.
  pub name: &'static str,
  /// The range, e.g. `169.254.0.0/16`.
  pub cidr: IpNet,
  /// What the range is, in words, e.g. `"link-local address"`.
  pub description: &'static str,
  /// Why it matters, when that is not obvious, e.g. `"which includes cloud metadata endpoints"`.
  pub note: Option<&'static str>,
}

impl fmt::Display for SpecialRange {
  /// `link-local address (169.254.0.0/16), which includes cloud metadata endpoints`
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{} ({})", self.description, self.cidr)?;
    if let Some(note) = self.note {
      write!(f, ", {note}")?;
    }
    Ok(())
  }
}

/// Classifies `ip` with the built-in rules only; `None` means globally routable.
///
/// The first matching entry of the table for the address family wins, so
/// each table lists narrower ranges before the ranges that contain them, and
/// the answer names the most specific reason.
pub fn classify_addr(ip: IpAddr) -> Option<&'static SpecialRange> {
  let table: &'static [SpecialRange] = match ip {
    IpAddr::V4(_) => IPV4_SPECIAL,
    IpAddr::V6(_) => IPV6_SPECIAL,
  };
  table.iter().find(|range| range.cidr.contains(&ip))
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix_len: u8) -> IpNet {
  IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix_len))
}

const fn v6(segments: [u16; 8], prefix_len: u8) -> IpNet {
  let [a, b, c, d, e, f, g, h] = segments;
  IpNet::V6(Ipv6Net::new_assert(
    Ipv6Addr::new(a, b, c, d, e, f, g, h),
    prefix_len,
  ))
}

const fn range(
  name: &'static str,
  cidr: IpNet,
  description: &'static str,
  note: Option<&'static str>,
) -> SpecialRange {
  SpecialRange {
    name,
    cidr,
    description,
    note,
  }
}

const RESERVED_V6: &str = "IPv6 space the IETF has not allocated for global unicast";

/// IPv4, in address order, narrower ranges before the ranges containing them.
/// Entries marked "(global)" are "globally reachable: true" in the registry
/// and are blocked anyway (see the module comment).
#[rustfmt::skip]
static IPV4_SPECIAL: &[SpecialRange] = &[
    // RFC 1122: connecting to 0.0.0.0 reaches this machine on Linux and macOS.
    range("this-host", v4(0, 0, 0, 0, 32), "\"this host\" address", Some("which reaches this machine on most systems")),
    range("this-network", v4(0, 0, 0, 0, 8), "\"this network\" address", None),
    range("private-use", v4(10, 0, 0, 0, 8), "private-use address", Some("used for internal networks")),
    range("shared-address-space", v4(100, 64, 0, 0, 10), "carrier-grade NAT shared address", None),
    range("loopback", v4(127, 0, 0, 0, 8), "loopback address", Some("which is this machine")),
    range("link-local", v4(169, 254, 0, 0, 16), "link-local address", Some("which includes cloud metadata endpoints")),
    range("private-use", v4(172, 16, 0, 0, 12), "private-use address", Some("used for internal networks")),
    // 192.0.0.0/24 IETF protocol assignments: its registered sub-entries first.
    range("ipv4-service-continuity", v4(192, 0, 0, 0, 29), "IPv4 service continuity (DS-Lite) address", None),
    range("ipv4-dummy", v4(192, 0, 0, 8, 32), "IPv4 dummy address", None),
    range("pcp-anycast", v4(192, 0, 0, 9, 32), "Port Control Protocol anycast address", None), // (global)
    range("turn-anycast", v4(192, 0, 0, 10, 32), "TURN anycast address", None), // (global)
    range("nat64-discovery", v4(192, 0, 0, 170, 32), "NAT64/DNS64 discovery address", None),
    range("nat64-discovery", v4(192, 0, 0, 171, 32), "NAT64/DNS64 discovery address", None),
    range("ietf-protocol-assignments", v4(192, 0, 0, 0, 24), "IETF protocol assignment address", None),
    range("documentation", v4(192, 0, 2, 0, 24), "documentation address (TEST-NET-1)", None),
    range("as112", v4(192, 31, 196, 0, 24), "AS112 DNS sink address", None), // (global)
    range("amt", v4(192, 52, 193, 0, 24), "Automatic Multicast Tunneling relay address", None), // (global)
    range("6to4-relay-anycast", v4(192, 88, 99, 0, 24), "deprecated 6to4 relay anycast address", None),
    range("private-use", v4(192, 168, 0, 0, 16), "private-use address", Some("used for internal networks")),
    range("as112", v4(192, 175, 48, 0, 24), "AS112 direct delegation DNS sink address", None), // (global)
    range("benchmarking", v4(198, 18, 0, 0, 15), "benchmarking address", None),
    range("documentation", v4(198, 51, 100, 0, 24), "documentation address (TEST-NET-2)", None),
    range("documentation", v4(203, 0, 113, 0, 24), "documentation address (TEST-NET-3)", None),
    // Not in the special-purpose registry: multicast has a registry of its own.
    range("multicast", v4(224, 0, 0, 0, 4), "multicast address", None),
    // Before 240.0.0.0/4, which contains it.
    range("limited-broadcast", v4(255, 255, 255, 255, 32), "limited broadcast address", None),
    range("reserved", v4(240, 0, 0, 0, 4), "reserved address (240.0.0.0/4)", None),
];

/// IPv6, in address order, narrower ranges before the ranges containing them;
/// last, the IPv6 Address Space registry's blocks outside 2000::/3.
#[rustfmt::skip]
static IPV6_SPECIAL: &[SpecialRange] = &[
    range("unspecified", v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified address", Some("which reaches this machine on most systems")),
    range("loopback", v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback address", Some("which is this machine")),
    // Blocked whole rather than judged by the embedded IPv4 address: a socket
    // given ::ffff:a.b.c.d connects to a.b.c.d, so allowing any of it would make
    // every IPv4 rule answerable through a second spelling. Public sites are
    // reachable by their IPv4 form, which is judged on its own.
    range("ipv4-mapped", v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96), "IPv4-mapped IPv6 address", Some("use the IPv4 address itself")),
    // Deprecated by RFC 4291; some stacks still route it to the embedded IPv4 address.
    range("ipv4-compatible", v6([0, 0, 0, 0, 0, 0, 0, 0], 96), "deprecated IPv4-compatible IPv6 address", None),
    range("nat64", v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96), "NAT64 IPv4/IPv6 translation address", Some("which leads to an IPv4 address")), // (global)
    range("nat64-local", v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), "local-use IPv4/IPv6 translation address", None),
    range("discard-only", v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard-only address", None),
    range("dummy-prefix", v6([0x100, 0, 0, 1, 0, 0, 0, 0], 64), "dummy IPv6 prefix address", None),
    // 2001::/23 IETF protocol assignments: its registered sub-entries first.
    range("teredo", v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), "Teredo tunnel address", Some("which leads to an IPv4 address")),
    range("pcp-anycast", v6([0x2001, 1, 0, 0, 0, 0, 0, 1], 128), "Port Control Protocol anycast address", None), // (global)
    range("turn-anycast", v6([0x2001, 1, 0, 0, 0, 0, 0, 2], 128), "TURN anycast address", None), // (global)
    range("dns-sd-srp-anycast", v6([0x2001, 1, 0, 0, 0, 0, 0, 3], 128), "DNS-SD service registration anycast address", None), // (global)
    range("benchmarking", v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48), "benchmarking address", None),
    range("amt", v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32), "Automatic Multicast Tunneling address", None), // (global)
    range("as112", v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48), "AS112 DNS sink address", None), // (global)
    range("orchid", v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28), "deprecated ORCHID address", None),
    range("orchid-v2", v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28), "ORCHIDv2 address", None), // (global)
    range("drone-remote-id", v6([0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28), "Drone Remote ID entity tag", None), // (global)
    range("ietf-protocol-assignments", v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), "IETF protocol assignment address", None),
    range("documentation", v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), "documentation address", None),
    range("6to4", v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), "6to4 address", Some("which leads to an IPv4 address")),
    range("as112", v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48), "AS112 direct delegation DNS sink address", None), // (global)
    range("documentation", v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), "documentation address", None),
    range("srv6-sids", v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), "segment routing (SRv6) SID", None),
    range("unique-local", v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "unique local address", Some("used for internal networks")),
    range("link-local", v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local address", Some("which includes cloud metadata endpoints")),
    // Deprecated by RFC 3879, still routed inside some networks.
    range("site-local", v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "deprecated site-local address", None),
    range("multicast", v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast address", None),
    // The IPv6 Address Space registry's "Reserved by IETF" blocks: everything
    // outside 2000::/3 (global unicast) and the ranges above.
    range("reserved", v6([0, 0, 0, 0, 0, 0, 0, 0], 8), RESERVED_V6, None),
    range("reserved", v6([0x100, 0, 0, 0, 0, 0, 0, 0], 8), RESERVED_V6, None),
    range("reserved", v6([0x200, 0, 0, 0, 0, 0, 0, 0], 7), RESERVED_V6, None),
    range("reserved", v6([0x400, 0, 0, 0, 0, 0, 0, 0], 6), RESERVED_V6, None),
    range("reserved", v6([0x800, 0, 0, 0, 0, 0, 0, 0], 5), RESERVED_V6, None),
    range("reserved", v6([0x1000, 0, 0, 0, 0, 0, 0, 0], 4), RESERVED_V6, None),
    range("reserved", v6([0x4000, 0, 0, 0, 0, 0, 0, 0], 3), RESERVED_V6, None),
    range("reserved", v6([0x6000, 0, 0, 0, 0, 0, 0, 0], 3), RESERVED_V6, None),
    range("reserved", v6([0x8000, 0, 0, 0, 0, 0, 0, 0], 3), RESERVED_V6, None),
    range("reserved", v6([0xa000, 0, 0, 0, 0, 0, 0, 0], 3), RESERVED_V6, None),
    range("reserved", v6([0xc000, 0, 0, 0, 0, 0, 0, 0], 3), RESERVED_V6, None),
    range("reserved", v6([0xe000, 0, 0, 0, 0, 0, 0, 0], 4), RESERVED_V6, None),
    range("reserved", v6([0xf000, 0, 0, 0, 0, 0, 0, 0], 5), RESERVED_V6, None),
    range("reserved", v6([0xf800, 0, 0, 0, 0, 0, 0, 0], 6), RESERVED_V6, None),
    range("reserved", v6([0xfe00, 0, 0, 0, 0, 0, 0, 0], 9), RESERVED_V6, None),
];

#[cfg(test)]
mod tests {
  use super::*;

  /// Asserts each `(address, expected range name or None)` row.
  fn assert_classified(rows: &[(&str, Option<&str>)]) {
    let mut failures = Vec::new();
    for &(addr, expected) in rows {
      let ip: IpAddr = addr.parse().expect(addr);
      let got = classify_addr(ip).map(|range| range.name);
      if got != expected {
        failures.push(format!("{addr}: expected {expected:?}, got {got:?}"));
      }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
  }

  #[test]
  fn ipv4_ranges_are_blocked_at_both_edges_and_their_global_neighbours_are_not() {
    assert_classified(&[
      ("0.0.0.0", Some("this-host")),
      ("0.0.0.1", Some("this-network")),
      ("0.255.255.255", Some("this-network")),
      ("1.0.0.0", None),
      ("9.255.255.255", None),
      ("10.0.0.0", Some("private-use")),
      ("10.255.255.255", Some("private-use")),
      ("11.0.0.0", None),
      ("100.63.255.255", None),
      ("100.64.0.0", Some("shared-address-space")),
      ("100.127.255.255", Some("shared-address-space")),
      ("100.128.0.0", None),
      ("126.255.255.255", None),
      ("127.0.0.0", Some("loopback")),
      ("127.0.0.1", Some("loopback")),
      ("127.255.255.255", Some("loopback")),
      ("128.0.0.0", None),
      ("169.253.255.255", None),
      ("169.254.0.0", Some("link-local")),
      ("169.254.169.254", Some("link-local")),
      ("169.254.255.255", Some("link-local")),
      ("169.255.0.0", None),
      ("172.15.255.255", None),
      ("172.16.0.0", Some("private-use")),
      ("172.31.255.255", Some("private-use")),
      ("172.32.0.0", None),
      ("191.255.255.255", None),
      ("192.0.0.0", Some("ipv4-service-continuity")),
      ("192.0.0.7", Some("ipv4-service-continuity")),
      ("192.0.0.8", Some("ipv4-dummy")),
      ("192.0.0.9", Some("pcp-anycast")),
      ("192.0.0.10", Some("turn-anycast")),
      ("192.0.0.11", Some("ietf-protocol-assignments")),
      ("192.0.0.169", Some("ietf-protocol-assignments")),
      ("192.0.0.170", Some("nat64-discovery")),
      ("192.0.0.171", Some("nat64-discovery")),
      ("192.0.0.172", Some("ietf-protocol-assignments")),
      ("192.0.0.255", Some("ietf-protocol-assignments")),
      ("192.0.1.0", None),
      ("192.0.1.255", None),
      ("192.0.2.0", Some("documentation")),
      ("192.0.2.255", Some("documentation")),
      ("192.0.3.0", None),
      ("192.31.195.255", None),
      ("192.31.196.0", Some("as112")),
      ("192.31.196.255", Some("as112")),
      ("192.31.197.0", None),
      ("192.52.192.255", None),
      ("192.52.193.0", Some("amt")),
      ("192.52.193.255", Some("amt")),
      ("192.52.194.0", None),
      ("192.88.98.255", None),
      ("192.88.99.0", Some("6to4-relay-anycast")),
      ("192.88.99.255", Some("6to4-relay-anycast")),
      ("192.88.100.0", None),
      ("192.167.255.255", None),
      ("192.168.0.0", Some("private-use")),
      ("192.168.255.255", Some("private-use")),
      ("192.169.0.0", None),
      ("192.175.47.255", None),
      ("192.175.48.0", Some("as112")),
      ("192.175.48.255", Some("as112")),
      ("192.175.49.0", None),
      ("198.17.255.255", None),
      ("198.18.0.0", Some("benchmarking")),
      ("198.19.255.255", Some("benchmarking")),
      ("198.20.0.0", None),
      ("198.51.99.255", None),
      ("198.51.100.0", Some("documentation")),
      ("198.51.100.255", Some("documentation")),
      ("198.51.101.0", None),
      ("203.0.112.255", None),
      ("203.0.113.0", Some("documentation")),
      ("203.0.113.255", Some("documentation")),
      ("203.0.114.0", None),
      ("223.255.255.255", None),
      ("224.0.0.0", Some("multicast")),
      ("239.255.255.255", Some("multicast")),
      ("240.0.0.0", Some("reserved")),
      ("255.255.255.254", Some("reserved")),
      ("255.255.255.255", Some("limited-broadcast")),
    ]);
  }

  #[test]
  fn ipv6_ranges_are_blocked_at_both_edges_and_their_global_neighbours_are_not() {
    assert_classified(&[
      ("::", Some("unspecified")),
      ("::1", Some("loopback")),
      ("::2", Some("ipv4-compatible")),
      ("::ffff:ffff", Some("ipv4-compatible")),
      ("::1:0:0", Some("reserved")),
      ("::fffe:ffff:ffff", Some("reserved")),
      ("::ffff:0:0", Some("ipv4-mapped")),
      ("::ffff:127.0.0.1", Some("ipv4-mapped")),
      ("::ffff:8.8.8.8", Some("ipv4-mapped")),
      ("::ffff:ffff:ffff", Some("ipv4-mapped")),
      ("::1:0:0:0", Some("reserved")),
      ("64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")),
      ("64:ff9b::", Some("nat64")),
      ("64:ff9b::ffff:ffff", Some("nat64")),
      ("64:ff9b::1:0:0", Some("reserved")),
      ("64:ff9b:1::", Some("nat64-local")),
      ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", Some("nat64-local")),
      ("64:ff9b:2::", Some("reserved")),
      ("ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")),
      ("100::", Some("discard-only")),
      ("100::ffff:ffff:ffff:ffff", Some("discard-only")),
      ("100:0:0:1::", Some("dummy-prefix")),
      ("100:0:0:1:ffff:ffff:ffff:ffff", Some("dummy-prefix")),
      ("100:0:0:2::", Some("reserved")),
      ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")),
      ("2000::", None),
      ("2000::1", None),
      ("2001::", Some("teredo")),
      ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", Some("teredo")),
      ("2001:1::", Some("ietf-protocol-assignments")),
      ("2001:1::1", Some("pcp-anycast")),
      ("2001:1::2", Some("turn-anycast")),
      ("2001:1::3", Some("dns-sd-srp-anycast")),
      ("2001:1::4", Some("ietf-protocol-assignments")),
      ("2001:2::", Some("benchmarking")),
      ("2001:2:0:ffff:ffff:ffff:ffff:ffff", Some("benchmarking")),
      ("2001:2:1::", Some("ietf-protocol-assignments")),
      ("2001:3::", Some("amt")),
      ("2001:3:ffff:ffff:ffff:ffff:ffff:ffff", Some("amt")),
      (
        "2001:4:111:ffff:ffff:ffff:ffff:ffff",
        Some("ietf-protocol-assignments"),
      ),
      ("2001:4:112::", Some("as112")),
      ("2001:4:112:ffff:ffff:ffff:ffff:ffff", Some("as112")),
      ("2001:4:113::", Some("ietf-protocol-assignments")),
      (
        "2001:f:ffff:ffff:ffff:ffff:ffff:ffff",
        Some("ietf-protocol-assignments"),
      ),
      ("2001:10::", Some("orchid")),
      ("2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", Some("orchid")),
      ("2001:20::", Some("orchid-v2")),
      ("2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", Some("orchid-v2")),
      ("2001:30::", Some("drone-remote-id")),
      (
        "2001:3f:ffff:ffff:ffff:ffff:ffff:ffff",
        Some("drone-remote-id"),
      ),
      ("2001:40::", Some("ietf-protocol-assignments")),
      (
        "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
        Some("ietf-protocol-assignments"),
      ),
      ("2001:200::", None),
      ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", None),
      ("2001:db8::", Some("documentation")),
      (
        "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
        Some("documentation"),
      ),
      ("2001:db9::", None),
      ("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
      ("2002::", Some("6to4")),
      ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("6to4")),
      ("2003::", None),
      ("2620:4f:7fff:ffff:ffff:ffff:ffff:ffff", None),
      ("2620:4f:8000::", Some("as112")),
      ("2620:4f:8000:ffff:ffff:ffff:ffff:ffff", Some("as112")),
      ("2620:4f:8001::", None),
      ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
      ("3fff::", Some("documentation")),
      (
        "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff",
        Some("documentation"),
      ),
      ("3fff:1000::", None),
      ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
      ("4000::", Some("reserved")),
      ("5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")),
      ("5f00::", Some("srv6-sids")),
      ("5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("srv6-sids")),
      ("5f01::", Some("reserved")),
      ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")),
      ("fc00::", Some("unique-local")),
      (
        "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        Some("unique-local"),
      ),
      ("fe00::", Some("reserved")),
      ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")),
      ("fe80::", Some("link-local")),
      (
        "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        Some("link-local"),
      ),
      ("fec0::", Some("site-local")),
      (
        "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        Some("site-local"),
      ),
      ("ff00::", Some("multicast")),
      ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("multicast")),
    ]);
  }

  #[test]
  fn well_known_public_addresses_are_global() {
    assert_classified(&[
      ("8.8.8.8", None),
      ("1.1.1.1", None),
      ("9.9.9.9", None),
      ("2606:4700:4700::1111", None),
      ("2001:4860:4860::8888", None),
    ]);
  }

  #[test]
  fn every_table_entry_blocks_its_first_and_last_address() {
    for range in IPV4_SPECIAL.iter().chain(IPV6_SPECIAL) {
      for edge in [range.cidr.network(), range.cidr.broadcast()] {
        assert!(
          classify_addr(edge).is_some(),
          "{edge} (edge of {}) is not blocked",
          range.cidr
        );
      }
    }
  }

  #[test]
  fn every_table_entry_is_written_as_its_network_address() {
    for range in IPV4_SPECIAL.iter().chain(IPV6_SPECIAL) {
      assert_eq!(range.cidr, range.cidr.trunc(), "{}", range.cidr);
    }
  }

  #[test]
  fn no_entry_is_shadowed_by_an_earlier_entry_that_contains_it() {
    for table in [IPV4_SPECIAL, IPV6_SPECIAL] {
      for (i, later) in table.iter().enumerate() {
        for earlier in &table[..i] {
          assert!(
            !earlier.cidr.contains(&later.cidr),
            "{} is listed after {}, which contains it",
            later.cidr,
            earlier.cidr
          );
        }
      }
    }
  }

  #[test]
  fn a_range_reads_as_description_cidr_and_note() {
    let range = classify_addr("169.254.169.254".parse().unwrap()).unwrap();
    assert_eq!(
      range.to_string(),
      "link-local address (169.254.0.0/16), which includes cloud metadata endpoints"
    );
  }
}
