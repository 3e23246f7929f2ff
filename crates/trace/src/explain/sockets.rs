//! Who holds a socket in a namespace: the processes living in a network
//! namespace (by the namespace's inode), their sockets from
//! /proc/<pid>/net/{tcp,udp}{,6}, and the process whose fd links to one.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::Serialize;

/// A listening TCP socket or a bound UDP socket, and who holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub udp: bool,
    /// Local address as the kernel shows it (`0.0.0.0`, `10.0.2.2`, `::`).
    pub addr: String,
    pub port: u16,
    pub inode: u64,
    /// Host pid, and the pid as the pod's node sees it.
    pub pid: u32,
    pub node_pid: u32,
    pub cmdline: String,
}

/// Host pids of every process in the network namespace at `ns_path`.
pub fn processes_in(ns_path: &Path) -> Vec<u32> {
    let Ok(target) = std::fs::metadata(ns_path) else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(m) = std::fs::metadata(format!("/proc/{pid}/ns/net")) {
            if m.dev() == target.dev() && m.ino() == target.ino() {
                pids.push(pid);
            }
        }
    }
    pids
}

/// (local address, port, state, inode) of one /proc/net/{tcp,udp} table.
pub fn parse_table(text: &str) -> Vec<(String, u16, u8, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (addr, port) = f.get(1)?.split_once(':')?;
            let state = u8::from_str_radix(f.get(3)?, 16).ok()?;
            let inode = f.get(9)?.parse().ok()?;
            Some((hex_addr(addr), u16::from_str_radix(port, 16).ok()?, state, inode))
        })
        .collect()
}

fn hex_addr(h: &str) -> String {
    if h.len() == 8 {
        let v = u32::from_str_radix(h, 16).unwrap_or(0);
        return std::net::Ipv4Addr::from(v.to_le_bytes()).to_string();
    }
    // IPv6: four little-endian words.
    let mut bytes = [0u8; 16];
    for (i, chunk) in h.as_bytes().chunks(8).enumerate().take(4) {
        let w = u32::from_str_radix(std::str::from_utf8(chunk).unwrap_or("0"), 16).unwrap_or(0);
        bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    std::net::Ipv6Addr::from(bytes).to_string()
}

const TCP_LISTEN: u8 = 0x0a;
const UDP_UNCONNECTED: u8 = 0x07;

/// Every listener in the namespace at `ns_path`, with its holder.
pub fn listeners(ns_path: &Path) -> Vec<Listener> {
    let pids = processes_in(ns_path);
    let Some(first) = pids.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (file, udp, state) in [
        ("tcp", false, TCP_LISTEN),
        ("tcp6", false, TCP_LISTEN),
        ("udp", true, UDP_UNCONNECTED),
        ("udp6", true, UDP_UNCONNECTED),
    ] {
        let text = std::fs::read_to_string(format!("/proc/{first}/net/{file}")).unwrap_or_default();
        for (addr, port, st, inode) in parse_table(&text) {
            if st != state || inode == 0 {
                continue;
            }
            if let Some(pid) = holder(&pids, inode) {
                out.push(Listener {
                    udp,
                    addr,
                    port,
                    inode,
                    pid,
                    node_pid: node_pid(pid).unwrap_or(pid),
                    cmdline: cmdline(pid),
                });
            }
        }
    }
    out
}

/// The process among `pids` with an fd on `socket:[inode]`.
fn holder(pids: &[u32], inode: u64) -> Option<u32> {
    let want = format!("socket:[{inode}]");
    pids.iter().copied().find(|pid| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == want.as_str()))
    })
}

/// The pid in the innermost pid namespace (the node's view: pods share it).
fn node_pid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

fn cmdline(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw)
        .split('\0')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_tables() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:270F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0\n   1: 0202000A:270F 0701000A:AD38 01 00000000:00000000 00:00000000 00000000     0        0 123457 1\n";
        let t = parse_table(text);
        assert_eq!(t[0], ("0.0.0.0".to_string(), 9999, 0x0a, 123456));
        assert_eq!(t[1], ("10.0.2.2".to_string(), 9999, 0x01, 123457));
        let v6 = "h\n   0: 00000000000000000000000000000000:0035 00000000000000000000000000000000:0000 07 0 0 0 0 0 99\n";
        assert_eq!(parse_table(v6)[0], ("::".to_string(), 53, 7, 99));
    }

    #[test]
    fn finds_our_own_listener() {
        let sock = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        let mine = listeners(Path::new("/proc/self/ns/net"));
        let l = mine
            .iter()
            .find(|l| l.port == port && !l.udp)
            .expect("our listener");
        assert_eq!(l.addr, "127.0.0.1");
        assert!(mine.iter().any(|l| l.pid == std::process::id()));
    }
}
