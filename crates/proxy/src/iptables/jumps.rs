//! The jumps from the built-in chains into ours, checked in one
//! `iptables-save` dump and added inside the restore transaction itself
//! (no `iptables -C`/`-I` processes: with iptables-nft each of those
//! fetches the whole table, which at 10k services costs as much as the
//! restore).

/// (table, built-in chain, rule spec), as iptables-save prints them.
pub const JUMPS: &[(&str, &str, &str)] = &[
    ("nat", "PREROUTING", "-m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"),
    ("nat", "OUTPUT", "-m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"),
    ("nat", "POSTROUTING", "-m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING"),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"),
    ("filter", "OUTPUT", "-m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"),
    (
        "filter",
        "INPUT",
        "-m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES",
    ),
];

pub type Jump = (&'static str, &'static str, &'static str);

/// The `*table` … `COMMIT` part of an iptables-save dump.
pub fn section<'a>(save: &'a str, table: &str) -> &'a str {
    let start = match save.find(&format!("*{table}\n")) {
        Some(s) => s,
        None => return "",
    };
    let rest = &save[start..];
    &rest[..rest.find("\nCOMMIT").unwrap_or(rest.len())]
}

/// The jumps absent from an iptables-save dump.
pub fn missing(save: &str) -> Vec<Jump> {
    JUMPS
        .iter()
        .filter(|(table, chain, spec)| {
            let line = format!("-A {chain} {spec}");
            !section(save, table).lines().any(|l| l == line)
        })
        .copied()
        .collect()
}

/// Insert `jumps` at the top of their built-in chains, inside the restore
/// input (before each table's COMMIT), so they land in the same
/// transaction as the chains they point to.
pub fn splice(input: &str, jumps: &[Jump]) -> String {
    let mut out = String::with_capacity(input.len() + 512);
    let mut table = "";
    for line in input.split_inclusive('\n') {
        if let Some(t) = line.trim_end().strip_prefix('*') {
            table = JUMPS.iter().map(|j| j.0).find(|j| *j == t).unwrap_or("");
        }
        if line.trim_end() == "COMMIT" {
            for (_, chain, spec) in jumps.iter().filter(|j| j.0 == table) {
                out.push_str(&format!("-I {chain} 1 {spec}\n"));
            }
        }
        out.push_str(line);
    }
    out
}

/// Split a rule spec into argv, honouring the double quotes we write.
pub fn split_args(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in spec.chars() {
        match ch {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(ch),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_args_keeps_quoted_comments_whole() {
        let a = split_args(JUMPS[0].2);
        assert_eq!(
            a,
            vec![
                "-m",
                "comment",
                "--comment",
                "kubernetes service portals",
                "-j",
                "KUBE-SERVICES"
            ]
        );
    }

    #[test]
    fn missing_jumps_are_found_in_one_dump_and_spliced_per_table() {
        let save = format!(
            "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING {}\nCOMMIT\n*filter\nCOMMIT\n",
            JUMPS[0].2
        );
        let m = missing(&save);
        assert_eq!(m.len(), JUMPS.len() - 1);
        assert!(!m.contains(&JUMPS[0]));
        let input = "*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n*filter\n:KUBE-SERVICES - [0:0]\nCOMMIT\n";
        let out = splice(input, &m);
        let nat = section(&out, "nat");
        assert!(nat.contains(&format!("-I OUTPUT 1 {}", JUMPS[1].2)), "{out}");
        assert!(!nat.contains("-I PREROUTING"), "{out}");
        assert!(!nat.contains("FORWARD"), "{out}");
        assert!(section(&out, "filter").contains("-I INPUT 1 "), "{out}");
        assert!(out.ends_with("COMMIT\n"));
        assert_eq!(splice(input, &[]), input);
    }
}
