//! `$(VAR)` references in a container's env values, command and args,
//! expanded as Kubernetes specifies: a defined variable's value replaces
//! the reference, an undefined one stays as written, `$$` is a literal `$`
//! (so `$$(VAR)` stays `$(VAR)`), and an unclosed `$(` is left alone.

/// `input` with its references looked up in `lookup`.
pub fn expand<'a>(input: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let mut chars = after.chars();
        match chars.next() {
            // A `$` at the very end is itself.
            None => {
                out.push('$');
                rest = after;
            }
            Some('$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some('(') => match after.find(')') {
                Some(close) => {
                    let name = &after[1..close];
                    match lookup(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            // A `$` that begins nothing is itself, with what follows.
            Some(c) => {
                out.push('$');
                out.push(c);
                rest = &after[c.len_utf8()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Expand each of `vars` in order, each against those before it (and
/// `base`), as the kubelet builds a container's environment.
pub fn expand_env(base: &[(String, String)], vars: &[(String, String)]) -> Vec<(String, String)> {
    let mut seen: Vec<(String, String)> = base.to_vec();
    let mut out = Vec::with_capacity(vars.len());
    for (k, v) in vars {
        let value = expand(v, |name| {
            seen.iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        });
        seen.push((k.clone(), value.clone()));
        out.push((k.clone(), value));
    }
    out
}

/// Every string of `list` expanded against `env`.
pub fn expand_all(list: &[String], env: &[(String, String)]) -> Vec<String> {
    let lookup = |name: &str| env.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    list.iter().map(|s| expand(s, lookup)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        vec![("A".into(), "1".into()), ("B".into(), "two".into())]
    }

    #[test]
    fn expands_as_kubernetes_specifies() {
        let e = env();
        let x = |s: &str| expand_all(&[s.to_string()], &e).remove(0);
        assert_eq!(x("$(A)"), "1");
        assert_eq!(x("x-$(A)-$(B)-y"), "x-1-two-y");
        assert_eq!(x("$(MISSING)"), "$(MISSING)", "undefined stays as written");
        assert_eq!(x("$$(A)"), "$(A)", "$$ escapes");
        assert_eq!(x("$$$(A)"), "$1");
        assert_eq!(x("$$"), "$");
        assert_eq!(x("cost $5"), "cost $5");
        assert_eq!(x("end$"), "end$");
        assert_eq!(x("$(A"), "$(A", "unclosed");
        assert_eq!(x("$()"), "$()");
        assert_eq!(x("é$(B)é"), "étwoé");
        assert_eq!(x("$HOME"), "$HOME", "shell syntax is not Kubernetes'");
    }

    #[test]
    fn env_values_see_only_what_comes_before_them() {
        let base = vec![("SVC_HOST".to_string(), "10.96.0.9".to_string())];
        let vars: Vec<(String, String)> = [
            ("URL", "http://$(SVC_HOST):$(PORT)/"),
            ("PORT", "80"),
            ("AGAIN", "$(PORT)-$(URL)"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let got = expand_env(&base, &vars);
        assert_eq!(got[0].1, "http://10.96.0.9:$(PORT)/");
        assert_eq!(got[2].1, "80-http://10.96.0.9:$(PORT)/");
    }
}
