//! Explanations as pluggable annotators over the hop list. Each one looks at
//! the trace (and the lab: nodes' namespaces, pods) and returns notes bound
//! to a packet's hop or to the whole trace. A Service-translation annotator
//! (iptables chain and rule with counters, nftables map element, eBPF map
//! entry) is one more implementation of [`Annotator`], pushed onto the list
//! that [`default_annotators`] returns.

mod annotator;
pub mod delivery;
pub mod dns;
pub mod drops;
pub mod encap;
pub mod route;
pub mod service;
pub mod sockets;

use crate::model::{Note, Trace};

pub use annotator::{Annotator, Context};

/// DNS, Service translation, routing, encapsulation, delivery and drops,
/// in that order.
pub fn default_annotators() -> Vec<Box<dyn Annotator>> {
    vec![
        Box::new(dns::Dns),
        Box::new(service::Service::default()),
        Box::new(route::Routing::default()),
        Box::new(encap::Encap),
        Box::new(delivery::Delivery::default()),
        Box::new(drops::Drops),
    ]
}

/// Run every annotator; one that fails leaves a note saying so instead of
/// failing the trace.
pub fn annotate(annotators: &mut [Box<dyn Annotator>], ctx: &Context, trace: &mut Trace) {
    let mut notes = Vec::new();
    for a in annotators.iter_mut() {
        match a.annotate(ctx, trace) {
            Ok(n) => notes.extend(n),
            Err(e) => notes.push(Note::new(
                a.name(),
                format!("{} annotator failed: {e:#}", a.name()),
            )),
        }
    }
    trace.notes.extend(notes);
}

/// Call every annotator's `before`, reporting failures the same way.
pub fn before(annotators: &mut [Box<dyn Annotator>], ctx: &Context) -> Vec<Note> {
    annotators
        .iter_mut()
        .filter_map(|a| {
            a.before(ctx)
                .err()
                .map(|e| Note::new(a.name(), format!("{} annotator (before): {e:#}", a.name())))
        })
        .collect()
}
