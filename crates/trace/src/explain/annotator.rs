//! The interface every explanation implements, and what it may look at.
//! Its own module so the annotators import it and not the list of them.

use anyhow::Result;

use crate::model::{Note, Request, Trace};
use crate::topology::Lab;

/// What an annotator may look at besides the trace.
pub struct Context<'a> {
    pub lab: &'a Lab,
    pub request: &'a Request,
}

pub trait Annotator {
    /// Short name, also the `kind` of its notes when it has one kind.
    fn name(&self) -> &'static str;

    /// Called before the capture starts: snapshot what the flow may change
    /// or take away (rule counters, a listener that exits after one
    /// connection).
    fn before(&mut self, _ctx: &Context) -> Result<()> {
        Ok(())
    }

    /// Explain the captured trace.
    fn annotate(&mut self, ctx: &Context, trace: &Trace) -> Result<Vec<Note>>;
}
