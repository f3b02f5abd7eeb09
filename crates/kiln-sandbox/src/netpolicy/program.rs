//! The policy as eBPF programs of type `BPF_PROG_TYPE_CGROUP_SOCK_ADDR`: run by the kernel
//! on `connect()` and on UDP `sendmsg()` to an address, they return 0 (the call fails with
//! EPERM) for a refused destination and 1 otherwise.
//!
//! IPv4 program: load `user_ip4` and `user_port`; an allowed resolver on port 53 jumps to
//! ALLOW; each rule masks the address and jumps to DENY on a match. IPv6 program: the same
//! over the four words of `user_ip6`, with every IPv4 rule also as its v4-mapped range.
//! Addresses and ports stay in network byte order: words are compared as the bytes lie in
//! memory.

use std::net::IpAddr;

use super::cidr::{mask128, mask32, Cidr};
use super::policy::{NetworkPolicy, DNS_PORT};
use crate::bpf::Insn;

pub const BPF_PROG_TYPE_CGROUP_SOCK_ADDR: u32 = 18;

/// The longest program generated: every jump offset then fits the 16-bit field exactly
/// (an IPv6 rule takes 9 to 13 instructions: over 2,000 ranges).
pub const MAX_INSNS: usize = 30_000;

/// Where a program is attached (`enum bpf_attach_type`), with the family it sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Inet4Connect = 10,
    Inet6Connect = 11,
    Udp4Sendmsg = 14,
    Udp6Sendmsg = 15,
}

impl Hook {
    pub const ALL: [Hook; 4] = [
        Hook::Inet4Connect,
        Hook::Inet6Connect,
        Hook::Udp4Sendmsg,
        Hook::Udp6Sendmsg,
    ];

    pub fn v6(self) -> bool {
        matches!(self, Hook::Inet6Connect | Hook::Udp6Sendmsg)
    }

    pub fn name(self) -> &'static str {
        match self {
            Hook::Inet4Connect => "kiln_connect4",
            Hook::Inet6Connect => "kiln_connect6",
            Hook::Udp4Sendmsg => "kiln_sendmsg4",
            Hook::Udp6Sendmsg => "kiln_sendmsg6",
        }
    }
}

// Offsets in `struct bpf_sock_addr`.
const USER_IP4: i16 = 4;
const USER_IP6: i16 = 8;
const USER_PORT: i16 = 24;

// Opcodes (of the policy's programs, these and the egress programs of `icmp`).
pub(super) const LDX_MEM_W: u8 = 0x61;
pub(super) const LDX_MEM_B: u8 = 0x71;
pub(super) const MOV64_K: u8 = 0xb7;
pub(super) const MOV64_X: u8 = 0xbf;
pub(super) const MOV32_X: u8 = 0xbc;
pub(super) const ADD64_K: u8 = 0x07;
pub(super) const AND32_K: u8 = 0x54;
pub(super) const RSH32_K: u8 = 0x74;
pub(super) const JNE32_K: u8 = 0x56;
pub(super) const JEQ32_K: u8 = 0x16;
pub(super) const JGT64_X: u8 = 0x2d;
pub(super) const JA: u8 = 0x05;
pub(super) const EXIT: u8 = 0x95;

// Registers: r1 the context; r2..r5 the address words; r7 the port; r8 scratch.
pub(super) const CTX: u8 = 1;
const PORT: u8 = 7;
pub(super) const TMP: u8 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Allow,
    Deny,
}

fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn::new(code, dst, src, off, imm)
}

/// `imm` holding the bits of `v` (eBPF immediates are signed 32-bit).
fn imm(v: u32) -> i32 {
    i32::from_ne_bytes(v.to_ne_bytes())
}

/// A program being assembled: instructions and the jumps still to resolve.
#[derive(Default)]
pub(super) struct Asm {
    insns: Vec<Insn>,
    /// Jumps to ALLOW/DENY, resolved at the end.
    far: Vec<(usize, Target)>,
    /// Jumps to the end of the current block.
    near: Vec<usize>,
}

impl Asm {
    pub(super) fn push(&mut self, i: Insn) {
        self.insns.push(i);
    }

    /// A jump instruction whose target is ALLOW or DENY.
    pub(super) fn branch(&mut self, i: Insn, to: Target) {
        self.far.push((self.insns.len(), to));
        self.push(i);
    }

    fn jump_if_ne(&mut self, reg: u8, value: u32) {
        self.near.push(self.insns.len());
        self.push(ins(JNE32_K, reg, 0, 0, imm(value)));
    }

    fn jump(&mut self, to: Target) {
        self.branch(ins(JA, 0, 0, 0, 0), to);
    }

    /// End a block: its "next" jumps land here.
    fn end_block(&mut self) {
        let here = self.insns.len();
        for at in self.near.drain(..) {
            self.insns[at].off = offset(at, here);
        }
    }

    pub(super) fn finish(mut self) -> Vec<Insn> {
        let allow = self.insns.len();
        self.push(ins(MOV64_K, 0, 0, 0, 1));
        self.push(ins(EXIT, 0, 0, 0, 0));
        let deny = self.insns.len();
        self.push(ins(MOV64_K, 0, 0, 0, 0));
        self.push(ins(EXIT, 0, 0, 0, 0));
        for (at, to) in std::mem::take(&mut self.far) {
            let target = if to == Target::Allow { allow } else { deny };
            self.insns[at].off = offset(at, target);
        }
        self.insns
    }
}

fn offset(from: usize, to: usize) -> i16 {
    // Exact for programs of up to MAX_INSNS, which is all `generate` returns.
    i16::try_from(to as i64 - from as i64 - 1).unwrap_or(i16::MIN)
}

/// The address as the words the program loads (network byte order in memory).
fn words(addr: IpAddr) -> Vec<u32> {
    let bytes: Vec<u8> = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    bytes
        .chunks(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn mask_words(cidr: &Cidr) -> Vec<u32> {
    match cidr.addr() {
        IpAddr::V4(_) => words(IpAddr::V4(mask32(cidr.prefix()).into())),
        IpAddr::V6(_) => words(IpAddr::V6(mask128(cidr.prefix()).into())),
    }
}

/// Ranges and resolvers of `policy` as the program's family sees them.
pub(super) fn for_family(policy: &NetworkPolicy, v6: bool) -> (Vec<Cidr>, Vec<IpAddr>) {
    let mut rules = Vec::new();
    for r in &policy.rules {
        match (r.cidr.addr(), v6) {
            (IpAddr::V4(_), false) | (IpAddr::V6(_), true) => rules.push(r.cidr),
            (IpAddr::V4(_), true) => rules.extend(r.cidr.v4_mapped()),
            (IpAddr::V6(_), false) => {}
        }
    }
    let dns = policy
        .dns
        .iter()
        .filter_map(|a| match (a, v6) {
            (IpAddr::V4(_), false) | (IpAddr::V6(_), true) => Some(*a),
            (IpAddr::V4(v4), true) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
            (IpAddr::V6(_), false) => None,
        })
        .collect();
    (rules, dns)
}

/// The program for `hook`; `None` when it would be longer than [`MAX_INSNS`].
pub fn generate(policy: &NetworkPolicy, hook: Hook) -> Option<Vec<Insn>> {
    let v6 = hook.v6();
    let (rules, dns) = for_family(policy, v6);
    let mut asm = Asm::default();
    let (base, count) = if v6 { (USER_IP6, 4) } else { (USER_IP4, 1) };
    for i in 0..count {
        asm.push(ins(LDX_MEM_W, 2 + i as u8, CTX, base + 4 * i, 0));
    }
    asm.push(ins(LDX_MEM_W, PORT, CTX, USER_PORT, 0));
    let port = u32::from(DNS_PORT.to_be());
    for addr in dns {
        for (i, w) in words(addr).into_iter().enumerate() {
            asm.jump_if_ne(2 + i as u8, w);
        }
        asm.jump_if_ne(PORT, port);
        asm.jump(Target::Allow);
        asm.end_block();
    }
    deny_ranges(&mut asm, rules)?;
    Some(asm.finish())
}

/// DENY for an address (in r2, or r2..r5 for IPv6) in any of `ranges`; `None` when the
/// program would be longer than [`MAX_INSNS`].
pub(super) fn deny_ranges(asm: &mut Asm, ranges: Vec<Cidr>) -> Option<()> {
    for cidr in ranges {
        let net = words(cidr.addr());
        for (i, (n, m)) in net.into_iter().zip(mask_words(&cidr)).enumerate() {
            if m == 0 {
                continue;
            }
            asm.push(ins(MOV32_X, TMP, 2 + i as u8, 0, 0));
            if m != u32::MAX {
                asm.push(ins(AND32_K, TMP, 0, 0, imm(m)));
            }
            asm.jump_if_ne(TMP, n);
        }
        asm.jump(Target::Deny);
        asm.end_block();
        if asm.insns.len() > MAX_INSNS {
            return None;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    //! The generated programs run on the test interpreter ([`super::super::interp`]).
    use super::*;

    fn run(prog: &[Insn], ctx: &[u8; 64]) -> u64 {
        super::super::interp::run(prog, ctx, &[])
    }

    fn ctx(ip: IpAddr, port: u16) -> [u8; 64] {
        let mut c = [0u8; 64];
        match ip {
            IpAddr::V4(a) => c[4..8].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => c[8..24].copy_from_slice(&a.octets()),
        }
        // user_port: the 16-bit port in network byte order, zero-extended.
        c[24..28].copy_from_slice(&u32::from(port.to_be()).to_ne_bytes());
        c
    }

    fn policy() -> NetworkPolicy {
        let ip = |s: &str| s.parse::<IpAddr>().expect("test value");
        NetworkPolicy::new(
            &[
                ("eth0".into(), ip("192.0.2.2")),
                ("eth0".into(), ip("fd00::2")),
                ("br0".into(), ip("172.17.0.1")),
            ],
            vec![ip("127.0.0.53"), ip("fd00::53")],
            &[
                "10.9.0.0/16".parse().expect("test value"),
                "2001:db8::/32".parse().expect("test value"),
            ],
        )
    }

    #[test]
    fn programs_agree_with_the_policy() {
        let p = policy();
        let v4 = generate(&p, Hook::Inet4Connect).expect("program");
        let v6 = generate(&p, Hook::Inet6Connect).expect("program");
        let addrs = [
            "127.0.0.1",
            "127.0.0.53",
            "0.0.0.0",
            "169.254.169.254",
            "192.0.2.2",
            "192.0.2.3",
            "172.17.0.1",
            "10.9.200.1",
            "10.8.0.1",
            "151.101.2.132",
            "224.0.0.251",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::2",
            "fd00::3",
            "fd00::53",
            "2001:db8::1",
            "2001:db9::1",
            "2a04:4e42::644",
            "::ffff:127.0.0.1",
            "::ffff:192.0.2.2",
            "::ffff:151.101.2.132",
            "::ffff:127.0.0.53",
            "::ffff:10.9.0.1",
        ];
        for a in addrs {
            let ip: IpAddr = a.parse().expect("test value");
            for port in [53u16, 80, 443] {
                let want = u64::from(p.refusing_connection(ip, port).is_none());
                let prog = if ip.is_ipv4() { &v4 } else { &v6 };
                assert_eq!(run(prog, &ctx(ip, port)), want, "{a} port {port}");
            }
        }
    }

    #[test]
    fn sendmsg_programs_are_the_connect_programs() {
        let p = policy();
        assert_eq!(
            generate(&p, Hook::Inet4Connect),
            generate(&p, Hook::Udp4Sendmsg)
        );
        assert_eq!(
            generate(&p, Hook::Inet6Connect),
            generate(&p, Hook::Udp6Sendmsg)
        );
    }

    #[test]
    fn too_many_ranges_make_no_program() {
        let many: Vec<Cidr> = (0..4000u32)
            .map(|i| {
                Cidr::host(IpAddr::V6(
                    ((0x2001_0db8_u128 << 96) | u128::from(i)).into(),
                ))
            })
            .collect();
        let p = NetworkPolicy::new(&[], vec![], &many);
        assert!(generate(&p, Hook::Inet6Connect).is_none());
        assert!(
            generate(&p, Hook::Inet4Connect).is_some(),
            "IPv6 ranges only"
        );
    }

    #[test]
    fn a_zero_prefix_denies_everything_of_its_family() {
        let p = NetworkPolicy::new(&[], vec![], &["0.0.0.0/0".parse().expect("test value")]);
        let v4 = generate(&p, Hook::Inet4Connect).expect("program");
        assert_eq!(
            run(&v4, &ctx("151.101.2.132".parse().expect("test value"), 80)),
            0
        );
        let v6 = generate(&p, Hook::Inet6Connect).expect("program");
        assert_eq!(
            run(&v6, &ctx("::ffff:1.2.3.4".parse().expect("test value"), 80)),
            0
        );
        assert_eq!(
            run(&v6, &ctx("2a04:4e42::644".parse().expect("test value"), 80)),
            1
        );
    }
}
