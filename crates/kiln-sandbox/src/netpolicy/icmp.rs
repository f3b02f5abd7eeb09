//! The policy beyond TCP and UDP: `BPF_PROG_TYPE_CGROUP_SKB` programs on the cgroup's
//! egress that drop every packet other than TCP and UDP (which the address hooks of
//! [`super::program`] check) to a refused address. The user-mode network stacks
//! (slirp4netns, QEMU's) carry a step's or a guest's pings out through ping sockets, which
//! send without `connect()`, where those hooks never run; a packet behind IPv6 extension
//! headers is dropped the same way.
//!
//! Each program reads the packet from its network header, where the kernel runs egress
//! programs: the version nibble, the protocol (IPv4, byte 9) or next header (IPv6, byte
//! 6), and the destination (byte 16, or 24 to 40). A packet of the other version, or one
//! too short to hold its fixed header, passes; the ranges are the connect programs' own.

use super::program::{
    deny_ranges, for_family, Asm, Target, ADD64_K, CTX, JEQ32_K, JGT64_X, JNE32_K, LDX_MEM_B,
    LDX_MEM_W, MOV64_X, RSH32_K, TMP,
};
use super::NetworkPolicy;
use crate::bpf::Insn;

pub const BPF_PROG_TYPE_CGROUP_SKB: u32 = 8;
/// `BPF_CGROUP_INET_EGRESS`.
pub const ATTACH_EGRESS: u32 = 1;

// Offsets in `struct __sk_buff`.
const SKB_DATA: i16 = 76;
const SKB_DATA_END: i16 = 80;

// Registers: r6 the packet's start, r9 its end, r7 a byte read from it.
const DATA: u8 = 6;
const END: u8 = 9;
const BYTE: u8 = 7;

/// The protocols the address hooks check themselves.
const TCP: i32 = 6;
const UDP: i32 = 17;

/// The packet layout of one IP version.
struct Layout {
    version: i32,
    header: i32,
    protocol_at: i16,
    destination_at: i16,
    words: u8,
}

const V4: Layout = Layout {
    version: 4,
    header: 20,
    protocol_at: 9,
    destination_at: 16,
    words: 1,
};

const V6: Layout = Layout {
    version: 6,
    header: 40,
    protocol_at: 6,
    destination_at: 24,
    words: 4,
};

/// The program for IPv4 (`v6` false) or IPv6; `None` when it would be too long.
pub fn generate(policy: &NetworkPolicy, v6: bool) -> Option<Vec<Insn>> {
    let l = if v6 { V6 } else { V4 };
    let (ranges, _) = for_family(policy, v6);
    let mut asm = Asm::default();
    asm.push(Insn::new(LDX_MEM_W, DATA, CTX, SKB_DATA, 0));
    asm.push(Insn::new(LDX_MEM_W, END, CTX, SKB_DATA_END, 0));
    asm.push(Insn::new(MOV64_X, TMP, DATA, 0, 0));
    asm.push(Insn::new(ADD64_K, TMP, 0, 0, l.header));
    asm.branch(Insn::new(JGT64_X, TMP, END, 0, 0), Target::Allow);
    asm.push(Insn::new(LDX_MEM_B, BYTE, DATA, 0, 0));
    asm.push(Insn::new(RSH32_K, BYTE, 0, 0, 4));
    asm.branch(Insn::new(JNE32_K, BYTE, 0, 0, l.version), Target::Allow);
    asm.push(Insn::new(LDX_MEM_B, BYTE, DATA, l.protocol_at, 0));
    asm.branch(Insn::new(JEQ32_K, BYTE, 0, 0, TCP), Target::Allow);
    asm.branch(Insn::new(JEQ32_K, BYTE, 0, 0, UDP), Target::Allow);
    for i in 0..l.words {
        let at = l.destination_at + 4 * i16::from(i);
        asm.push(Insn::new(LDX_MEM_W, 2 + i, DATA, at, 0));
    }
    deny_ranges(&mut asm, ranges)?;
    Some(asm.finish())
}

#[cfg(test)]
mod tests {
    //! The programs run on the test interpreter ([`super::super::interp`]), on a context
    //! whose `data` is 0 and `data_end` the packet's length.
    use super::*;
    use std::net::IpAddr;

    fn run(prog: &[Insn], packet: &[u8]) -> u64 {
        let mut ctx = [0u8; 84];
        let end = u32::try_from(packet.len()).expect("a short packet");
        ctx[SKB_DATA_END as usize..][..4].copy_from_slice(&end.to_ne_bytes());
        super::super::interp::run(prog, &ctx, packet)
    }

    /// An IP packet to `to` of protocol `protocol` with a few bytes of payload.
    fn packet(to: IpAddr, protocol: u8) -> Vec<u8> {
        match to {
            IpAddr::V4(a) => {
                let mut p = vec![0u8; 28];
                p[0] = 0x45;
                p[9] = protocol;
                p[16..20].copy_from_slice(&a.octets());
                p
            }
            IpAddr::V6(a) => {
                let mut p = vec![0u8; 48];
                p[0] = 0x60;
                p[6] = protocol;
                p[24..40].copy_from_slice(&a.octets());
                p
            }
        }
    }

    fn policy() -> NetworkPolicy {
        let ip = |s: &str| s.parse::<IpAddr>().expect("test value");
        NetworkPolicy::new(
            &[
                ("eth0".into(), ip("192.0.2.2")),
                ("eth0".into(), ip("fd00::2")),
            ],
            vec![ip("127.0.0.53")],
            &["10.9.0.0/16".parse().expect("test value")],
        )
    }

    #[test]
    fn icmp_and_all_but_tcp_and_udp_to_a_refused_address_is_dropped() {
        let p = policy();
        let v4 = generate(&p, false).expect("program");
        let v6 = generate(&p, true).expect("program");
        let cases = [
            ("192.0.2.2", 1, 0),
            ("127.0.0.1", 1, 0),
            ("127.0.0.53", 1, 0),
            ("169.254.169.254", 1, 0),
            ("10.9.1.1", 1, 0),
            ("151.101.2.132", 1, 1),
            ("192.0.2.2", 6, 1),
            ("192.0.2.2", 17, 1),
            ("192.0.2.2", 47, 0),
            ("151.101.2.132", 47, 1),
            ("fd00::2", 58, 0),
            ("::1", 58, 0),
            ("fe80::1", 58, 0),
            ("::ffff:192.0.2.2", 58, 0),
            ("2a04:4e42::644", 58, 1),
            ("fd00::2", 6, 1),
            ("fd00::2", 0, 0),
            ("fd00::2", 44, 0),
            ("2a04:4e42::644", 0, 1),
        ];
        for (to, protocol, want) in cases {
            let ip: IpAddr = to.parse().expect("test value");
            let pkt = packet(ip, protocol);
            let (own, other) = if ip.is_ipv4() { (&v4, &v6) } else { (&v6, &v4) };
            assert_eq!(run(own, &pkt), want, "{to} protocol {protocol}");
            assert_eq!(
                run(other, &pkt),
                1,
                "{to}: the other family's program passes it"
            );
        }
    }

    #[test]
    fn a_packet_shorter_than_its_header_passes_unread() {
        let p = policy();
        let v4 = generate(&p, false).expect("program");
        let pkt = packet("192.0.2.2".parse().expect("test value"), 1);
        assert_eq!(run(&v4, &pkt[..19]), 1);
        assert_eq!(run(&v4, &pkt[..20]), 0);
    }
}
