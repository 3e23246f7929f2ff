//! The two answer paths, and the one call the UDP and TCP servers make to
//! answer a packet.

/// Which answer path to serve with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Precompiled answers spliced by the allocation-free parser.
    Fast,
    /// hickory `Message` decode/encode per query (benchmark baseline).
    Naive,
}

/// Answers one packet with the chosen path.
pub(crate) fn answer(
    path: Path,
    snap: &crate::catalog::Snapshot,
    pkt: &[u8],
    tr: crate::wire::Transport,
    out: &mut Vec<u8>,
) -> crate::wire::Outcome {
    match path {
        Path::Fast => crate::wire::respond(snap, pkt, tr, out),
        Path::Naive => crate::wire::naive::respond_naive(snap, pkt, tr, out),
    }
}
