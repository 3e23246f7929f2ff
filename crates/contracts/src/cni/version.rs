//! CNI spec versions: which ones exist, and what each one allows.

use std::fmt;

/// Every spec version this plugin accepts in `cniVersion`, oldest first.
pub const SUPPORTED: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// The newest version we implement; used where the caller gave none.
pub const LATEST: &str = "1.1.0";

/// The `cniVersion` our conflist declares. containerd 1.6 (Debian 12) reads
/// the list with a libcni that refuses results of 1.1.0, and it ignores
/// `cniVersions`; every runtime in use reads 1.0.0. Runtimes that know
/// `cniVersions` (ours among them) still speak the newest one listed.
pub const DECLARED: &str = "1.0.0";

/// A `major.minor.patch` spec version, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    pub const V0_4_0: Version = Version(0, 4, 0);
    pub const V1_0_0: Version = Version(1, 0, 0);
    pub const V1_1_0: Version = Version(1, 1, 0);

    /// Parse `x.y.z`; an empty string means 0.1.0 (configs older than the
    /// field), as libcni reads it.
    pub fn parse(s: &str) -> Option<Version> {
        if s.is_empty() {
            return Some(Version(0, 1, 0));
        }
        let mut parts = s.split('.');
        let mut next = || parts.next()?.parse::<u32>().ok();
        let v = Version(next()?, next()?, next()?);
        if s.split('.').count() != 3 {
            return None;
        }
        Some(v)
    }

    pub fn is_supported(self) -> bool {
        SUPPORTED.iter().any(|s| Version::parse(s) == Some(self))
    }

    /// CHECK (and prevResult on DEL) arrived in 0.4.0.
    pub fn allows_check(self) -> bool {
        self >= Self::V0_4_0
    }

    /// STATUS and GC arrived in 1.1.0.
    pub fn allows_status_and_gc(self) -> bool {
        self >= Self::V1_1_0
    }

    /// Results before 1.0.0 carry `"version": "4"` on every IP.
    pub fn ips_carry_version(self) -> bool {
        self < Self::V1_0_0
    }

    /// Interface `mtu` and route `scope` are 1.1.0 result fields.
    pub fn has_mtu_and_scope(self) -> bool {
        self >= Self::V1_1_0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        assert_eq!(Version::parse("0.3.1"), Some(Version(0, 3, 1)));
        assert_eq!(Version::parse(""), Some(Version(0, 1, 0)));
        assert_eq!(Version::parse("1.0"), None);
        assert_eq!(Version::parse("1.0.0.1"), None);
        assert_eq!(Version::parse("a.b.c"), None);
        assert!(Version(0, 10, 0) > Version(0, 4, 0));
    }

    #[test]
    fn gates_follow_the_spec_history() {
        let v = |s| Version::parse(s).unwrap();
        assert!(!v("0.3.1").allows_check());
        assert!(v("0.4.0").allows_check());
        assert!(!v("1.0.0").allows_status_and_gc());
        assert!(v("1.1.0").allows_status_and_gc());
        assert!(v("0.4.0").ips_carry_version());
        assert!(!v("1.0.0").ips_carry_version());
        assert!(!v("0.2.0").is_supported());
        assert!(!v("9.9.9").is_supported());
        assert!(SUPPORTED.iter().all(|s| v(s).is_supported()));
    }
}
