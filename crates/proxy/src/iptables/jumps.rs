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

use labyrinth_contracts::iptables_save::Save;

pub type Jump = (&'static str, &'static str, &'static str);

/// The jumps absent from an iptables-save dump.
pub fn missing(save: &Save) -> Vec<Jump> {
    JUMPS
        .iter()
        .filter(|(table, chain, spec)| {
            !save
                .table(table)
                .is_some_and(|t| t.rules_of(chain).any(|r| r.spec == *spec))
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

#[cfg(test)]
mod tests {
    use super::*;
    use labyrinth_contracts::iptables_save::split_args;

    #[test]
    fn the_jumps_read_back_as_argv() {
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
        let m = missing(&Save::parse(&save).unwrap());
        assert_eq!(m.len(), JUMPS.len() - 1);
        assert!(!m.contains(&JUMPS[0]));
        let input = "*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n*filter\n:KUBE-SERVICES - [0:0]\nCOMMIT\n";
        let out = splice(input, &m);
        let (nat, filter) = out.split_once("COMMIT\n").unwrap();
        assert!(nat.contains(&format!("-I OUTPUT 1 {}", JUMPS[1].2)), "{out}");
        assert!(!nat.contains("-I PREROUTING"), "{out}");
        assert!(!nat.contains("FORWARD"), "{out}");
        assert!(filter.contains("-I INPUT 1 "), "{out}");
        assert!(out.ends_with("COMMIT\n"));
        assert_eq!(splice(input, &[]), input);
    }
}
