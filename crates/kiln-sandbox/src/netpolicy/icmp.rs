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

use super::program::{deny_ranges, for_family, Asm, Target, CTX, TMP};
use super::NetworkPolicy;
use crate::bpf::Insn;

pub const BPF_PROG_TYPE_CGROUP_SKB: u32 = 8;
/// `BPF_CGROUP_INET_EGRESS`.
pub const ATTACH_EGRESS: u32 = 1;

// Offsets in `struct __sk_buff`.
const SKB_DATA: i16 = 76;
const SKB_DATA_END: i16 = 80;

// Opcodes.
const LDX_MEM_W: u8 = 0x61;
const LDX_MEM_B: u8 = 0x71;
const MOV64_X: u8 = 0xbf;
const ADD64_K: u8 = 0x07;
const RSH32_K: u8 = 0x74;
const JNE32_K: u8 = 0x56;
const JEQ32_K: u8 = 0x16;
const JGT64_X: u8 = 0x2d;

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
    //! The programs run on a small interpreter: the packet starts at 0, so `data` and
    //! `data_end` are plain numbers and a load from the packet reads the test's bytes.
    use super::super::program::{AND32_K, EXIT, JA, MOV32_X, MOV64_K};
    use super::*;
    use std::net::IpAddr;

    fn run(prog: &[Insn], packet: &[u8]) -> u64 {
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        let jump = |pc: usize, off: i16| (pc as i64 + i64::from(off)) as usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let k = u32::from_ne_bytes(i.imm.to_ne_bytes());
            pc += 1;
            match i.code {
                LDX_MEM_W if src == CTX as usize => {
                    r[dst] = match i.off {
                        SKB_DATA => 0,
                        SKB_DATA_END => packet.len() as u64,
                        o => panic!("__sk_buff offset {o}"),
                    }
                }
                LDX_MEM_W => {
                    let o = (r[src] as i64 + i64::from(i.off)) as usize;
                    let w = packet[o..o + 4].try_into().expect("in bounds");
                    r[dst] = u64::from(u32::from_ne_bytes(w));
                }
                LDX_MEM_B => {
                    r[dst] = u64::from(packet[(r[src] as i64 + i64::from(i.off)) as usize])
                }
                MOV64_X => r[dst] = r[src],
                ADD64_K => r[dst] = r[dst].wrapping_add(i.imm as i64 as u64),
                RSH32_K => r[dst] = u64::from(r[dst] as u32 >> k),
                MOV64_K => r[dst] = i.imm as i64 as u64,
                MOV32_X => r[dst] = r[src] & 0xffff_ffff,
                AND32_K => r[dst] = u64::from(r[dst] as u32 & k),
                JNE32_K if r[dst] as u32 != k => pc = jump(pc, i.off),
                JNE32_K => {}
                JEQ32_K if r[dst] as u32 == k => pc = jump(pc, i.off),
                JEQ32_K => {}
                JGT64_X if r[dst] > r[src] => pc = jump(pc, i.off),
                JGT64_X => {}
                JA => pc = jump(pc, i.off),
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
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
