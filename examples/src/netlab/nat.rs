//! What a home router does to its traffic: the nftables ruleset of each [`NatKind`].

/// How a home router translates and filters traffic between its LAN and the internet.
///
/// Every kind filters the WAN side like a real home router: in `input` and `forward`, packets
/// arriving on the WAN are accepted only when conntrack knows them (`ct state
/// established,related`); everything else is dropped. Without that filter an unsolicited packet
/// to the router's public address leaves a confirmed conntrack entry, and when the inner host
/// later sends to that same endpoint (as hole punching does) the NAT has to pick another port,
/// so the peer sees a mapping it was never told about.
///
/// A host with no NAT at all is a public host ([`Lab::add_public_host`](super::Lab::add_public_host)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NatKind {
    /// Plain `masquerade`: one inner socket keeps one public port whatever the destination
    /// (endpoint-independent mapping, RFC 4787), and the port is the inner one when it is free.
    /// Inbound packets pass only from endpoints the inner socket has sent to. Hole punching works.
    EndpointIndependent,
    /// `masquerade random`: every destination gets its own random public port
    /// (address- and port-dependent mapping), so the port a STUN server reports is useless to a
    /// peer. Hole punching between two such homes fails; a relay is needed.
    Symmetric,
    /// A network that lets only TCP out: UDP towards the WAN is dropped, TCP is translated as in
    /// [`NatKind::EndpointIndependent`]. Only TURN over TCP gets through.
    UdpBlocked,
}

/// The router's interface towards the core, as named in the rules.
pub(super) const WAN: &str = "wan";
/// The table of the WAN filter, whose drop rules count what they drop.
pub(super) const FILTER_TABLE: &str = "syncshell_filter";

impl NatKind {
    /// The nftables ruleset of a router of this kind, for `nft -f -` in a fresh namespace.
    pub(super) fn ruleset(self) -> String {
        let masquerade = match self {
            NatKind::Symmetric => "masquerade random",
            NatKind::EndpointIndependent | NatKind::UdpBlocked => "masquerade",
        };
        let block_udp = match self {
            NatKind::UdpBlocked => {
                format!("        oifname \"{WAN}\" meta l4proto udp counter drop\n")
            }
            NatKind::EndpointIndependent | NatKind::Symmetric => String::new(),
        };
        format!(
            "table ip syncshell_nat {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname \"{WAN}\" {masquerade}
    }}
}}
table inet {FILTER_TABLE} {{
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname \"{WAN}\" ct state established,related accept
        iifname \"{WAN}\" counter drop
    }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname \"{WAN}\" ct state established,related accept
        iifname \"{WAN}\" counter drop
{block_udp}    }}
}}
"
        )
    }
}

/// The sum of the packet counts in an `nft list` output: each counting rule reads
/// `... counter packets N bytes M drop`.
pub(super) fn packets_counted(listing: &str) -> u64 {
    listing
        .split("packets ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}
