//! How a policy sync reached the kernel, for the agent's log and tests.

/// How a sync reached the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Everything rewritten.
    Full,
    /// Only what changed, in one transaction.
    Incremental,
    /// Nothing to do: the kernel already holds it.
    Unchanged,
}
