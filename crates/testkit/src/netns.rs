//! (filled in by the structure work)
