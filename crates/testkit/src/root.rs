//! (filled in by the root-test work)
