//! NodePort allocation over the service node port range (30000–32767, the
//! real server's default), done at Service create/update time. Which ports
//! are taken is derived from the stored Services at start-up, so nothing
//! else needs persisting.
//!
//! Like the real allocator since 1.27 (ServiceNodePortStaticSubrange), the
//! range is split in two bands: a port picked by the server comes from the
//! upper band while it has room, leaving the lower band to users who name
//! their port, so a chosen port rarely collides with a picked one.

use std::collections::HashSet;
use std::ops::RangeInclusive;

pub const FIRST: u16 = 30000;
pub const LAST: u16 = 32767;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NodePortError {
    #[error("provided port is not in the valid range. The range of valid ports is {FIRST}-{LAST}")]
    OutOfRange,
    #[error("provided port is already allocated")]
    Taken,
    #[error("range is full")]
    Full,
}

pub struct NodePortAllocator {
    used: HashSet<u16>,
}

impl Default for NodePortAllocator {
    fn default() -> Self {
        Self::new()
    }
}

/// Size of the lower (static) band: size/32 clamped to 16..=128, as the
/// real allocator computes it (86 ports for the default range).
fn static_band() -> u16 {
    let size = u32::from(LAST - FIRST) + 1;
    (size / 32).clamp(16, 128) as u16
}

fn random_below(n: u16) -> u16 {
    let mut b = [0u8; 4];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("system randomness");
    (u32::from_le_bytes(b) % u32::from(n)) as u16
}

impl NodePortAllocator {
    pub fn new() -> Self {
        Self { used: HashSet::new() }
    }

    pub fn in_range(port: i64) -> bool {
        (i64::from(FIRST)..=i64::from(LAST)).contains(&port)
    }

    /// Take `port` as asked for by a client.
    pub fn allocate(&mut self, port: i64) -> Result<u16, NodePortError> {
        if !Self::in_range(port) {
            return Err(NodePortError::OutOfRange);
        }
        let p = port as u16;
        if !self.used.insert(p) {
            return Err(NodePortError::Taken);
        }
        Ok(p)
    }

    /// Pick a free port: a random start in the upper band, then the next
    /// free one after it (wrapping), then the same in the lower band.
    pub fn allocate_next(&mut self) -> Result<u16, NodePortError> {
        let split = FIRST + static_band();
        for band in [split..=LAST, FIRST..=split - 1] {
            if let Some(p) = self.scan(band) {
                self.used.insert(p);
                return Ok(p);
            }
        }
        Err(NodePortError::Full)
    }

    fn scan(&self, band: RangeInclusive<u16>) -> Option<u16> {
        let (lo, hi) = (*band.start(), *band.end());
        let n = hi - lo + 1;
        let start = random_below(n);
        (0..n)
            .map(|i| lo + (start + i) % n)
            .find(|p| !self.used.contains(p))
    }

    /// Mark a port taken (replaying stored Services at start-up).
    pub fn mark(&mut self, port: u16) {
        self.used.insert(port);
    }

    pub fn release(&mut self, port: u16) {
        self.used.remove(&port);
    }

    pub fn is_used(&self, port: u16) -> bool {
        self.used.contains(&port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn given_ports_checked_picked_ports_free_and_upper_band_first() {
        let mut a = NodePortAllocator::new();
        assert_eq!(a.allocate(80), Err(NodePortError::OutOfRange));
        assert_eq!(a.allocate(32768), Err(NodePortError::OutOfRange));
        assert_eq!(a.allocate(30000), Ok(30000));
        assert_eq!(a.allocate(30000), Err(NodePortError::Taken));
        let mut seen = HashSet::new();
        for _ in 0..(LAST - FIRST - static_band() + 1) {
            let p = a.allocate_next().unwrap();
            assert!(p >= FIRST + static_band(), "{p} from the upper band");
            assert!(seen.insert(p), "{p} handed out twice");
        }
        // Upper band full: the lower band, skipping the taken 30000.
        for _ in 0..static_band() - 1 {
            let p = a.allocate_next().unwrap();
            assert!(p > FIRST && p < FIRST + static_band());
        }
        assert_eq!(a.allocate_next(), Err(NodePortError::Full));
        a.release(31000);
        assert_eq!(a.allocate_next(), Ok(31000));
    }
}
