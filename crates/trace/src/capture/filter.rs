//! The kernel filter attached to every capture socket (classic BPF): copy
//! only IPv4 frames to or from the traced pod's address, either as they are
//! (pod devices, gateway, tunnel, native routing) or inside a VXLAN frame on
//! UDP 8472 (the underlay). Everything else on a device, the API server's
//! traffic on ens4 for instance, never leaves the kernel.

use std::net::Ipv4Addr;

use labyrinth_contracts::node::VXLAN_PORT;

/// One cBPF instruction, laid out as `struct sock_filter`.
pub type Insn = libc::sock_filter;

const LD_H_ABS: u16 = 0x28; // ldh [k]
const LD_W_ABS: u16 = 0x20; // ld [k]
const LD_B_ABS: u16 = 0x30; // ldb [k]
const LD_H_IND: u16 = 0x48; // ldh [x + k]
const LD_W_IND: u16 = 0x40; // ld [x + k]
const LDX_MSH: u16 = 0xb1; // ldxb 4*([k]&0xf)
const JEQ: u16 = 0x15; // jeq #k
const JSET: u16 = 0x45; // jset #k
const RET: u16 = 0x06; // ret #k

/// How many bytes of a matching frame to copy (the whole frame).
const SNAP: u32 = 262_144;

/// Where a jump goes: the next instruction, or one of the two exits.
#[derive(Clone, Copy)]
enum To {
    Next,
    Accept,
    Drop,
}

enum Op {
    Load(u16, u32),
    Jump(u16, u32, To, To),
}

/// Frames from or to `host`, plain or VXLAN-encapsulated.
pub fn host_filter(host: Ipv4Addr) -> Vec<Insn> {
    let h = u32::from(host);
    // Ethernet: type at 12, IPv4 header at 14 (src 26, dst 30, proto 23,
    // fragment offset 20). Under VXLAN, with X = outer IP header length:
    // UDP at 14+X, VXLAN at 22+X, inner Ethernet at 30+X, inner type at
    // 42+X, inner IP at 44+X (src 56+X, dst 60+X).
    let ops = [
        Op::Load(LD_H_ABS, 12),
        Op::Jump(JEQ, 0x0800, To::Next, To::Drop),
        Op::Load(LD_W_ABS, 26),
        Op::Jump(JEQ, h, To::Accept, To::Next),
        Op::Load(LD_W_ABS, 30),
        Op::Jump(JEQ, h, To::Accept, To::Next),
        Op::Load(LD_B_ABS, 23),
        Op::Jump(JEQ, 17, To::Next, To::Drop),
        Op::Load(LD_H_ABS, 20),
        Op::Jump(JSET, 0x1fff, To::Drop, To::Next),
        Op::Load(LDX_MSH, 14),
        Op::Load(LD_H_IND, 16),
        Op::Jump(JEQ, VXLAN_PORT as u32, To::Next, To::Drop),
        Op::Load(LD_H_IND, 42),
        Op::Jump(JEQ, 0x0800, To::Next, To::Drop),
        Op::Load(LD_W_IND, 56),
        Op::Jump(JEQ, h, To::Accept, To::Next),
        Op::Load(LD_W_IND, 60),
        Op::Jump(JEQ, h, To::Accept, To::Drop),
    ];
    assemble(&ops)
}

/// Lay the program out with `ret #SNAP` and `ret #0` at the end, and turn
/// the symbolic jump targets into relative offsets.
fn assemble(ops: &[Op]) -> Vec<Insn> {
    let accept = ops.len();
    let drop = ops.len() + 1;
    let rel = |at: usize, to: To| -> u8 {
        let target = match to {
            To::Next => at + 1,
            To::Accept => accept,
            To::Drop => drop,
        };
        (target - at - 1) as u8
    };
    let mut prog: Vec<Insn> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| match *op {
            Op::Load(code, k) => insn(code, 0, 0, k),
            Op::Jump(code, k, t, f) => insn(code, rel(i, t), rel(i, f), k),
        })
        .collect();
    prog.push(insn(RET, 0, 0, SNAP));
    prog.push(insn(RET, 0, 0, 0));
    prog
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tiny interpreter for the instructions we emit, so the program's
    /// logic is checked on synthetic frames without a kernel.
    pub fn run(prog: &[Insn], pkt: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let load = |off: usize, n: usize| -> Option<u32> {
            pkt.get(off..off + n)
                .map(|b| b.iter().fold(0u32, |acc, v| (acc << 8) | *v as u32))
        };
        loop {
            let i = prog[pc];
            let k = i.k as usize;
            let loaded = match i.code {
                LD_H_ABS => Some(load(k, 2)),
                LD_W_ABS => Some(load(k, 4)),
                LD_B_ABS => Some(load(k, 1)),
                LD_H_IND => Some(load(x as usize + k, 2)),
                LD_W_IND => Some(load(x as usize + k, 4)),
                LDX_MSH => {
                    x = 4 * (load(k, 1).unwrap_or(0) & 0xf);
                    None
                }
                _ => None,
            };
            match loaded {
                Some(Some(v)) => a = v,
                Some(None) => return 0, // out of bounds: the kernel drops
                None => {}
            }
            let jump = |cond: bool| if cond { i.jt } else { i.jf } as usize;
            pc += 1 + match i.code {
                JEQ => jump(a == i.k),
                JSET => jump(a & i.k != 0),
                RET => return i.k,
                _ => 0,
            };
        }
    }

    #[test]
    fn offsets_fit_and_program_is_small() {
        let p = host_filter(Ipv4Addr::new(10, 0, 1, 7));
        assert!(p.len() < 32);
        assert_eq!(p.last().unwrap().code, RET);
    }
}
