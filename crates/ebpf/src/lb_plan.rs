//! The ordered map writes that take the kernel from one LbState to another
//! with no moment where a packet finds a slot pointing nowhere:
//! backends and reverse NAT first, then backend slots, then the frontends
//! (whose count makes new slots reachable or old ones unreachable), and
//! deletions in the opposite order.

use crate::abi::{Lb4Backend, Lb4Key, Lb4NodePort, Lb4NodePortKey, Lb4ReverseNat, Lb4Service};
use crate::lb_compile::LbState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    PutBackend(u32, Lb4Backend),
    PutRevNat(u16, Lb4ReverseNat),
    PutName(u16, String),
    PutSlot(Lb4Key, Lb4Service),
    PutFrontend(Lb4Key, Lb4Service),
    PutNodePort(Lb4NodePortKey, Lb4NodePort),
    DelNodePort(Lb4NodePortKey),
    DelFrontend(Lb4Key),
    DelSlot(Lb4Key),
    DelName(u16),
    DelRevNat(u16),
    DelBackend(u32),
}

pub fn plan(old: &LbState, new: &LbState) -> Vec<Op> {
    let mut ops = Vec::new();
    for (id, b) in &new.backends {
        if old.backends.get(id) != Some(b) {
            ops.push(Op::PutBackend(*id, *b));
        }
    }
    for (id, r) in &new.revnat {
        if old.revnat.get(id) != Some(r) {
            ops.push(Op::PutRevNat(*id, *r));
        }
    }
    for (id, n) in &new.names {
        if old.names.get(id) != Some(n) {
            ops.push(Op::PutName(*id, n.clone()));
        }
    }
    let changed = |k: &Lb4Key, v: &Lb4Service| old.services.get(k) != Some(v);
    for (k, v) in new.services.iter().filter(|(k, _)| k.slot > 0) {
        if changed(k, v) {
            ops.push(Op::PutSlot(*k, *v));
        }
    }
    for (k, v) in new.services.iter().filter(|(k, _)| k.slot == 0) {
        if changed(k, v) {
            ops.push(Op::PutFrontend(*k, *v));
        }
    }
    // A NodePort row last in, first out: the program finds its frontend.
    for (k, v) in &new.nodeports {
        if old.nodeports.get(k) != Some(v) {
            ops.push(Op::PutNodePort(*k, *v));
        }
    }
    for k in old.nodeports.keys().filter(|k| !new.nodeports.contains_key(k)) {
        ops.push(Op::DelNodePort(*k));
    }
    let gone = |k: &Lb4Key| !new.services.contains_key(k);
    for k in old.services.keys().filter(|k| k.slot == 0 && gone(k)) {
        ops.push(Op::DelFrontend(*k));
    }
    for k in old.services.keys().filter(|k| k.slot > 0 && gone(k)) {
        ops.push(Op::DelSlot(*k));
    }
    for id in old.names.keys().filter(|id| !new.names.contains_key(id)) {
        ops.push(Op::DelName(*id));
    }
    for id in old.revnat.keys().filter(|id| !new.revnat.contains_key(id)) {
        ops.push(Op::DelRevNat(*id));
    }
    for id in old.backends.keys().filter(|id| !new.backends.contains_key(id)) {
        ops.push(Op::DelBackend(*id));
    }
    ops
}

/// The first difference between what we programmed and what the maps hold.
pub fn first_difference(want: &LbState, have: &LbState) -> Option<String> {
    let ops = plan(have, want);
    ops.first()
        .map(|op| format!("{} map entries differ, first: {op:?}", ops.len()))
}
