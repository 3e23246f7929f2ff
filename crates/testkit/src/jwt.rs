//! A JWT's claims as JSON text, decoded by python3: an independent decoder
//! for tests that check the tokens our API server signs.

/// The middle part of `token` (base64url), decoded; panics with python's
/// error if it is not a JWT.
pub fn claims_json(token: &str) -> String {
    let body = token.split('.').nth(1).expect("a JWT");
    let py = format!(
        "import base64,sys; s='{body}'; sys.stdout.write(base64.urlsafe_b64decode(s + '=' * (-len(s) % 4)).decode())"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &py])
        .output()
        .expect("running python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 claims")
}
