//! Name pieces shared by the controllers: the "safe" alphabet Kubernetes uses
//! for generated names and hashes (no vowels, no 0/1/3 that read like letters,
//! so a suffix never spells a word).

use rand::Rng;

/// The alphabet of Kubernetes' `rand.String` and `rand.SafeEncodeString`.
pub const SAFE_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

/// Length of the random suffix the API server appends for `generateName`.
pub const RANDOM_SUFFIX_LEN: usize = 5;

/// Maps every byte of `s` onto the safe alphabet by `byte % 27`, as
/// Kubernetes' `SafeEncodeString` does (used for pod-template-hash).
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHABET[b as usize % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// `n` characters drawn uniformly from the safe alphabet.
pub fn random_string(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| SAFE_ALPHABET[rng.random_range(0..SAFE_ALPHABET.len())] as char)
        .collect()
}

/// `<prefix>-<5 random safe chars>`, the name a generateName of `<prefix>-`
/// would get from the API server. We name objects ourselves so the result does
/// not depend on the server implementing generateName.
pub fn generated_name(prefix: &str) -> String {
    format!("{prefix}-{}", random_string(RANDOM_SUFFIX_LEN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_encode_maps_each_digit_by_modulo() {
        // '0' is byte 48; 48 % 27 = 21 -> index 21 of the alphabet.
        for d in b'0'..=b'9' {
            let s = (d as char).to_string();
            let want = SAFE_ALPHABET[d as usize % 27] as char;
            assert_eq!(safe_encode(&s), want.to_string());
        }
        // Decimal digits land only on these ten letters (the look of real
        // pod-template-hash values such as the ones kubectl shows).
        let digits: String = ('0'..='9').collect();
        assert_eq!(safe_encode(&digits), "456789bcdf");
    }

    #[test]
    fn random_strings_use_only_the_alphabet() {
        for _ in 0..200 {
            let s = random_string(RANDOM_SUFFIX_LEN);
            assert_eq!(s.len(), 5);
            assert!(s.bytes().all(|b| SAFE_ALPHABET.contains(&b)), "{s}");
        }
        let n = generated_name("web-abc");
        assert!(n.starts_with("web-abc-") && n.len() == "web-abc-".len() + 5);
    }

    #[test]
    fn random_strings_vary() {
        let set: std::collections::HashSet<String> = (0..50).map(|_| random_string(5)).collect();
        // 27^5 ≈ 14M possibilities: 50 draws colliding down to a handful is
        // practically impossible unless the generator is broken.
        assert!(set.len() > 40, "only {} distinct", set.len());
    }
}
