//! Loading the table through nf_tables' netlink interface directly: the
//! same transaction `nft -f` would send, minus nft's parsing and
//! evaluation of a text script, which is most of its time at 10k services.
mod encode;
mod expr;
mod msg;
mod sock;

use anyhow::{bail, Result};

use super::plan::Op;
use super::text;

pub use encode::{encode, Batch};
pub use sock::Session;

/// Apply `ops` as one atomic transaction, on a throwaway socket.
pub fn apply(ops: &[Op<'_>]) -> Result<()> {
    apply_in(&mut Session::default(), ops)
}

/// Apply `ops` as one atomic transaction through `session`.
pub fn apply_in(session: &mut Session, ops: &[Op<'_>]) -> Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    let batch = encode(ops, session.next_seq());
    let errors = session
        .send(&batch.bytes, batch.first_seq, batch.last_seq)
        .map_err(|e| anyhow::anyhow!("talking to nf_tables: {e}"))?;
    if errors.is_empty() {
        return Ok(());
    }
    let described: Vec<String> = errors
        .iter()
        .take(5)
        .map(|(seq, errno)| {
            let what = seq
                .checked_sub(batch.first_seq)
                .and_then(|i| batch.origin.get(i as usize))
                .and_then(|(op, sub)| ops.get(*op).map(|o| describe(o, *sub)))
                .unwrap_or_else(|| "the batch".into());
            format!("{what}: {}", std::io::Error::from_raw_os_error(*errno))
        })
        .collect();
    bail!(
        "nf_tables rejected the transaction (nothing was applied): {}{}",
        described.join("; "),
        if errors.len() > 5 { " …" } else { "" }
    )
}

/// The `nft` line for message `sub` of `op`, shortened.
fn describe(op: &Op<'_>, sub: usize) -> String {
    let script = text::render(std::slice::from_ref(op));
    let lines: Vec<&str> = script.lines().collect();
    let line = lines.get(sub).or(lines.first()).copied().unwrap_or_default();
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}
