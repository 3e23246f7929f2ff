//! pod-template-hash, computed the way the Kubernetes deployment controller
//! does: FNV-32a over the printed pod template, then the collision count as 8
//! little-endian bytes, then the decimal form of the 32-bit sum mapped onto the
//! safe alphabet.
//!
//! Kubernetes prints the Go struct with go-spew; we print the template as
//! canonical JSON (serde_json's map keeps keys sorted), so the same template
//! gives the same hash here across restarts, but not the same string a Go
//! cluster would print.

use k8s_openapi::api::core::v1::PodTemplateSpec;

use crate::names::safe_encode;

/// The label every ReplicaSet and pod of a Deployment carries.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

const FNV32_OFFSET: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// Streaming FNV-1a, 32 bit.
#[derive(Clone, Copy, Debug)]
pub struct Fnv32a(u32);

impl Default for Fnv32a {
    fn default() -> Self {
        Fnv32a(FNV32_OFFSET)
    }
}

impl Fnv32a {
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u32;
            self.0 = self.0.wrapping_mul(FNV32_PRIME);
        }
    }
    pub fn sum32(&self) -> u32 {
        self.0
    }
}

/// The printed form that is hashed. The pod-template-hash label itself is left
/// out so a ReplicaSet's template hashes like its Deployment's.
pub fn printed_template(template: &PodTemplateSpec) -> String {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    // Value's maps are BTreeMaps: keys come out sorted, so the text is canonical.
    let v = serde_json::to_value(&t).unwrap_or(serde_json::Value::Null);
    v.to_string()
}

/// Hash of a printed template and optional collision count.
pub fn hash_printed(printed: &str, collision_count: Option<i32>) -> String {
    let mut h = Fnv32a::default();
    h.write(printed.as_bytes());
    if let Some(c) = collision_count {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&(c as u32).to_le_bytes());
        h.write(&b);
    }
    safe_encode(&h.sum32().to_string())
}

/// The pod-template-hash of `template` with the Deployment's collision count.
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    hash_printed(&printed_template(template), collision_count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::SAFE_ALPHABET;
    use std::collections::BTreeMap;

    /// Bit-by-bit reference of FNV-1a from its definition, independent of the
    /// streaming implementation above.
    fn fnv1a_reference(data: &[u8]) -> u32 {
        let mut h: u64 = 2_166_136_261;
        for &b in data {
            h ^= b as u64;
            h = (h * 16_777_619) % (1u64 << 32);
        }
        h as u32
    }

    fn template(app: &str, image: &str) -> PodTemplateSpec {
        serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))
        .unwrap()
    }

    #[test]
    fn fnv32a_matches_reference_and_published_offset() {
        assert_eq!(Fnv32a::default().sum32(), 2_166_136_261);
        for s in ["", "a", "foobar", "pod template", "\u{1F980}"] {
            let mut h = Fnv32a::default();
            h.write(s.as_bytes());
            assert_eq!(h.sum32(), fnv1a_reference(s.as_bytes()), "{s:?}");
        }
        // Streaming in pieces equals hashing at once.
        let mut h = Fnv32a::default();
        h.write(b"foo");
        h.write(b"bar");
        assert_eq!(h.sum32(), fnv1a_reference(b"foobar"));
    }

    #[test]
    fn hash_is_the_safe_encoded_decimal_sum() {
        let t = template("web", "nginx");
        let printed = printed_template(&t);
        let sum = fnv1a_reference(printed.as_bytes());
        let expected: String = sum
            .to_string()
            .bytes()
            .map(|b| SAFE_ALPHABET[b as usize % 27] as char)
            .collect();
        assert_eq!(pod_template_hash(&t, None), expected);
        assert_eq!(expected.len(), sum.to_string().len());
        assert!((1..=10).contains(&expected.len()));
        assert!(expected.chars().all(|c| "456789bcdf".contains(c)));
    }

    #[test]
    fn collision_count_is_hashed_as_8_le_bytes() {
        let t = template("web", "nginx");
        let printed = printed_template(&t);
        let mut bytes = printed.clone().into_bytes();
        bytes.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
        let sum = fnv1a_reference(&bytes);
        assert_eq!(
            pod_template_hash(&t, Some(2)),
            crate::names::safe_encode(&sum.to_string())
        );
        assert_ne!(pod_template_hash(&t, Some(1)), pod_template_hash(&t, Some(2)));
        assert_ne!(pod_template_hash(&t, None), pod_template_hash(&t, Some(0)));
    }

    #[test]
    fn deterministic_and_template_sensitive() {
        let a = template("web", "nginx");
        assert_eq!(pod_template_hash(&a, None), pod_template_hash(&a.clone(), None));
        assert_ne!(
            pod_template_hash(&a, None),
            pod_template_hash(&template("web", "nginx:2"), None)
        );
        // Label order in the source does not matter (canonical printing).
        let mut l1 = BTreeMap::new();
        l1.insert("a".to_string(), "1".to_string());
        l1.insert("b".to_string(), "2".to_string());
        let mut x = a.clone();
        x.metadata.as_mut().unwrap().labels = Some(l1);
        let y: PodTemplateSpec = serde_json::from_str(
            r#"{"metadata":{"labels":{"b":"2","a":"1"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}"#,
        )
        .unwrap();
        assert_eq!(pod_template_hash(&x, None), pod_template_hash(&y, None));
    }

    #[test]
    fn hash_label_is_ignored() {
        let a = template("web", "nginx");
        let mut b = a.clone();
        b.metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_TEMPLATE_HASH_LABEL.into(), "abc".into());
        assert_eq!(pod_template_hash(&a, None), pod_template_hash(&b, None));
    }
}
