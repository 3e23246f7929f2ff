//! A message's bytes to the JSON the same object has, led by its schema.

use base64::Engine;
use serde_json::{json, Map, Value};

use super::schema::{Kind, Message};
use super::wire::{fields, Wire};

/// Why a body could not be turned into JSON.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a well-formed message, or a field of the wrong wire type (400).
    Malformed(String),
    /// A field this server does not decode carries a value (415).
    Unknown(String),
}

pub fn message(m: &Message, b: &[u8]) -> Result<Value, Refusal> {
    let fs = fields(b).ok_or_else(|| Refusal::Malformed(format!("a malformed {}", m.name)))?;
    let mut out = Map::new();
    for (num, w) in fs {
        let Some(f) = m.field(num) else {
            if w.is_zero() {
                continue;
            }
            return Err(Refusal::Unknown(format!("field {num} of {}", m.name)));
        };
        let wrong = || Refusal::Malformed(format!("{}.{} has the wrong wire type", m.name, f.name));
        let bytes = match w {
            Wire::Bytes(b) => Some(b),
            _ => None,
        };
        // Negative int32 and int64 values are both sent sign-extended to
        // 64 bits.
        let int = match w {
            Wire::Varint(v) => Some(v as i64),
            _ => None,
        };
        let v = match &f.kind {
            Kind::Skip => continue,
            Kind::Str | Kind::StrP => {
                let s = text(bytes.ok_or_else(wrong)?);
                if s.is_empty() && matches!(f.kind, Kind::Str) {
                    continue;
                }
                json!(s)
            }
            Kind::Int | Kind::IntP => {
                let n = int.ok_or_else(wrong)?;
                if n == 0 && matches!(f.kind, Kind::Int) {
                    continue;
                }
                json!(n)
            }
            Kind::Bool | Kind::BoolP => {
                let n = int.ok_or_else(wrong)?;
                if n == 0 && matches!(f.kind, Kind::Bool) {
                    continue;
                }
                json!(n != 0)
            }
            Kind::Msg(sub) => message(sub, bytes.ok_or_else(wrong)?)?,
            Kind::Inline(sub) => {
                if let Value::Object(fields) = message(sub, bytes.ok_or_else(wrong)?)? {
                    out.extend(fields);
                }
                continue;
            }
            Kind::RepStr => {
                push(&mut out, f.name, json!(text(bytes.ok_or_else(wrong)?)));
                continue;
            }
            Kind::RepInt => {
                match (int, bytes) {
                    (Some(n), _) => push(&mut out, f.name, json!(n)),
                    (None, Some(packed)) => {
                        let mut i = 0;
                        while i < packed.len() {
                            let n = super::wire::varint(packed, &mut i).ok_or_else(wrong)?;
                            push(&mut out, f.name, json!(n as i64));
                        }
                    }
                    (None, None) => return Err(wrong()),
                }
                continue;
            }
            Kind::RepMsg(sub) => {
                push(&mut out, f.name, message(sub, bytes.ok_or_else(wrong)?)?);
                continue;
            }
            Kind::MapStr | Kind::MapBytes | Kind::MapQuantity => {
                let (k, v) = map_entry(m, f.name, &f.kind, bytes.ok_or_else(wrong)?)?;
                let entry = out.entry(f.name).or_insert_with(|| json!({}));
                entry[k] = v;
                continue;
            }
            Kind::IntOrStr => int_or_string(bytes.ok_or_else(wrong)?).ok_or_else(|| {
                Refusal::Malformed(format!("{}.{}: a malformed IntOrString", m.name, f.name))
            })?,
        };
        out.insert(f.name.into(), v);
    }
    Ok(Value::Object(out))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn push(out: &mut Map<String, Value>, name: &str, v: Value) {
    if let Value::Array(a) = out.entry(name).or_insert_with(|| json!([])) {
        a.push(v);
    }
}

/// A map entry is a message of key (1) and value (2).
fn map_entry(m: &Message, name: &str, kind: &Kind, b: &[u8]) -> Result<(String, Value), Refusal> {
    let bad = || Refusal::Malformed(format!("{}.{}: a malformed map entry", m.name, name));
    let mut key = String::new();
    let mut val: &[u8] = &[];
    for (n, w) in fields(b).ok_or_else(bad)? {
        match (n, w) {
            (1, Wire::Bytes(k)) => key = text(k),
            (2, Wire::Bytes(v)) => val = v,
            _ => return Err(bad()),
        }
    }
    let v = match kind {
        Kind::MapBytes => json!(base64::engine::general_purpose::STANDARD.encode(val)),
        // A Quantity is a message holding its string form (1).
        Kind::MapQuantity => {
            let mut q = String::new();
            for (n, w) in fields(val).ok_or_else(bad)? {
                if let (1, Wire::Bytes(s)) = (n, w) {
                    q = text(s);
                }
            }
            json!(q)
        }
        _ => json!(text(val)),
    };
    Ok((key, v))
}

/// IntOrString: type (1: 0 int, 1 string), intVal (2), strVal (3).
fn int_or_string(b: &[u8]) -> Option<Value> {
    let (mut ty, mut i, mut s) = (0, 0i64, String::new());
    for (n, w) in fields(b)? {
        match (n, w) {
            (1, Wire::Varint(v)) => ty = v,
            (2, Wire::Varint(v)) => i = v as i64,
            (3, Wire::Bytes(b)) => s = text(b),
            _ => return None,
        }
    }
    match ty {
        0 => Some(json!(i)),
        1 => Some(json!(s)),
        _ => None,
    }
}
