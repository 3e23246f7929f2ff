//! (filled in by the contracts work)
