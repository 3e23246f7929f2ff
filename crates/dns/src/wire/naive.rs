//! Benchmark baseline: the same catalog served the conventional way, with
//! hickory-proto's full `Message` decode of the query and a full `Message`
//! decode + encode of the response for every packet (what a server built on
//! hickory's message types pays per query).

use hickory_proto::op::Message;

use super::respond::{respond, Outcome, Transport};
use crate::catalog::Snapshot;

/// Like [`respond`], through hickory's message types.
pub fn respond_naive(snap: &Snapshot, pkt: &[u8], tr: Transport, out: &mut Vec<u8>) -> Outcome {
    if Message::from_vec(pkt).is_err() {
        return respond(snap, pkt, tr, out);
    }
    let mut fast = Vec::with_capacity(512);
    let outcome = respond(snap, pkt, tr, &mut fast);
    if outcome != Outcome::Reply {
        return outcome;
    }
    match Message::from_vec(&fast).ok().and_then(|m| m.to_vec().ok()) {
        Some(bytes) => {
            out.clear();
            out.extend_from_slice(&bytes);
        }
        None => {
            out.clear();
            out.extend_from_slice(&fast);
        }
    }
    Outcome::Reply
}
