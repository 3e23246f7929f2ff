//! The little HTTP/1.1 agnhost's servers and `/dial` need: one request per
//! connection (answered with `Connection: close`), GET-style handlers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// What a handler sees of a request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub peer: SocketAddr,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A status, a content type and a body.
pub type Response = (u16, &'static str, String);

pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Accept connections until the listener fails; a thread per connection.
pub fn serve(listener: TcpListener, handler: Handler) {
    crate::serve::each_connection(listener, "http", move |stream| answer(stream, &handler));
}

fn answer(stream: TcpStream, handler: &Handler) {
    let Ok(peer) = stream.peer_addr() else { return };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(&stream);
    let (status, ctype, body) = match read_request(&mut reader, peer) {
        Ok(req) => handler(&req),
        Err(e) => (400, "text/plain; charset=utf-8", format!("{e:#}\n")),
    };
    let mut w = &stream;
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    let _ = w
        .write_all(head.as_bytes())
        .and_then(|_| w.write_all(body.as_bytes()));
    let _ = stream.shutdown(Shutdown::Write);
}

fn read_request(r: &mut impl BufRead, peer: SocketAddr) -> Result<Request> {
    let mut line = String::new();
    r.read_line(&mut line).context("reading the request line")?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        bail!("malformed request line {:?}", line.trim_end());
    };
    let mut content_length = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    // A form body (POST /dial, /shell) adds to the query's parameters.
    let mut body = vec![0u8; content_length.min(1 << 20)];
    r.read_exact(&mut body).context("reading the request body")?;
    let (path, q) = target.split_once('?').unwrap_or((target, ""));
    let mut query = parse_query(q);
    query.extend(parse_query(&String::from_utf8_lossy(&body)));
    Ok(Request {
        method: method.to_string(),
        path: percent_decode(path),
        query,
        peer,
    })
}

pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        412 => "Precondition Failed",
        500 => "Internal Server Error",
        _ => "",
    }
}

/// GET `http://addr/path` with a deadline; the body of a 200 answer.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<String> {
    let mut s =
        TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .with_context(|| format!("reading the answer of {addr}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("no HTTP header in the answer")?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        bail!("{addr}{path} answered status {status}");
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode() {
        assert_eq!(
            parse_query("cmd=echo+a%20b&x"),
            vec![("cmd".into(), "echo a b".into()), ("x".into(), "".into())]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%2Fa"), "/a");
    }

    #[test]
    fn a_request_reads_with_its_form_body() {
        let raw = b"POST /dial?host=a HTTP/1.1\r\nContent-Length: 7\r\n\r\nport=80";
        let req = read_request(&mut &raw[..], "1.2.3.4:5".parse().unwrap()).unwrap();
        assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/dial"));
        assert_eq!((req.param("host"), req.param("port")), (Some("a"), Some("80")));
    }
}
