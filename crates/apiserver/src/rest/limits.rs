//! The sizes the real API server enforces: a request body over 3 MiB is
//! answered 413 before it is read to the end, an object whose stored form is
//! over 1.5 MiB (etcd's request limit) is refused, and a body nested deeper
//! than a Kubernetes object ever is gets refused before decoding, since
//! decoders spend time (and stack) on every level.

use super::status::{ApiError, ApiResult};

/// kube-apiserver's `--max-request-bytes` default for writes.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// etcd's `--max-request-bytes` default, which bounds one stored object.
pub const MAX_OBJECT_BYTES: usize = 3 * 512 * 1024;
/// Deeper than any object of the served kinds (a Deployment's deepest path
/// is under 20 levels) and equal to serde_json's own recursion limit, so
/// nothing the decoder would have accepted is refused here.
pub const MAX_DEPTH: usize = 128;

pub fn body_too_large() -> ApiError {
    ApiError::new(
        413,
        "RequestEntityTooLarge",
        format!("Request entity too large: limit is {MAX_BODY_BYTES}"),
    )
}

/// The nesting depth of `[`/`{` outside double-quoted strings, refused past
/// [`MAX_DEPTH`]. One pass, no allocation: milliseconds for megabytes.
pub fn check_depth(body: &[u8]) -> ApiResult<()> {
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_str {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ApiError::bad_request(format!(
                        "error decoding request body: nesting depth exceeds {MAX_DEPTH}"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Refuse an object too big to store.
pub fn check_object_size(obj: &serde_json::Value) -> ApiResult<()> {
    let n = serde_json::to_vec(obj).map(|v| v.len()).unwrap_or(0);
    if n > MAX_OBJECT_BYTES {
        return Err(ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!(
                "Request entity too large: the object is {n} bytes, the store's limit is {MAX_OBJECT_BYTES}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = check_depth(deep.as_bytes()).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("nesting depth exceeds 128"), "{}", e.message);
        // Brackets inside strings (escaped quotes too) are data.
        let s = format!(r#"{{"data":{{"k":"\"{}"}}}}"#, "[".repeat(1000));
        check_depth(s.as_bytes()).unwrap();
        check_depth(br#"{"a":[{"b":[1,2]}]}"#).unwrap();
    }
}
