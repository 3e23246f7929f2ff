//! An ipBlock as a list of disjoint networks: its cidr minus its excepts,
//! so a datapath needs no negation (one match per network).

use ipnet::Ipv4Net;

/// `cidr` without the addresses of `except`, as the fewest networks.
pub fn minus(cidr: Ipv4Net, except: &[Ipv4Net]) -> Vec<Ipv4Net> {
    let mut out = vec![cidr.trunc()];
    for ex in except {
        let ex = ex.trunc();
        out = out
            .into_iter()
            .flat_map(|net| {
                if ex.contains(&net) {
                    vec![]
                } else if net.contains(&ex) {
                    split_out(net, ex)
                } else {
                    vec![net]
                }
            })
            .collect();
    }
    out
}

/// `net` (which contains `ex`) as the halves on the way down to `ex`,
/// without `ex` itself.
fn split_out(net: Ipv4Net, ex: Ipv4Net) -> Vec<Ipv4Net> {
    let mut out = Vec::new();
    let mut cur = net;
    while cur.prefix_len() < ex.prefix_len() {
        let mut halves = cur.subnets(cur.prefix_len() + 1).expect("longer prefix");
        let (a, b) = (
            halves.next().expect("two halves"),
            halves.next().expect("two halves"),
        );
        if a.contains(&ex) {
            out.push(b);
            cur = a;
        } else {
            out.push(a);
            cur = b;
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn except_leaves_the_rest() {
        assert_eq!(minus(n("10.0.0.0/24"), &[]), vec![n("10.0.0.0/24")]);
        assert_eq!(
            minus(n("10.0.0.0/24"), &[n("10.0.0.0/26")]),
            vec![n("10.0.0.64/26"), n("10.0.0.128/25")]
        );
        let left = minus(n("10.0.0.0/16"), &[n("10.0.1.3/32"), n("10.0.200.0/24")]);
        let count: u64 = left.iter().map(|x| 1u64 << (32 - x.prefix_len())).sum();
        assert_eq!(count, 65536 - 1 - 256);
        assert!(!left.iter().any(|x| x.contains(&n("10.0.1.3/32").addr())));
        assert!(left.iter().any(|x| x.contains(&n("10.0.1.4/32").addr())));
        assert!(minus(n("10.0.0.0/24"), &[n("10.0.0.0/16")]).is_empty());
    }
}
