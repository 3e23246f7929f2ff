//! How many async worker threads the control plane's processes run
//! (`--worker-threads` of `labyrinth server` and `labyrinth controllers`;
//! 0, their default, is one per core). A lab passes `IN_A_LAB`: all its
//! nodes' processes share one machine's cores, and with a worker per core
//! in each, every request woke a second thread of the same process (a
//! 100-pod burst made 5,300 context switches in the API server alone, 930
//! with one worker). The node agent runs one worker wherever it runs.

/// The flag, as the lab's manifests write it.
pub const FLAG: &str = "--worker-threads";

/// What the lab passes.
pub const IN_A_LAB: usize = 1;
