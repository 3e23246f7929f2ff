//! A process identified by pid *and* start time: defined with the records
//! that store it (pod sandboxes, the lab's namespace holders) in
//! labyrinth-contracts, and re-exported here where the namespace code
//! has always found it.

pub use labyrinth_contracts::process::ProcessRef;
