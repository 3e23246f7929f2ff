//! A small deterministic generator (xorshift64) for tests that walk
//! random sequences: a fixed seed, so a failure replays exactly.

pub struct Rng(pub u64);

impl Rng {
    /// A number in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
