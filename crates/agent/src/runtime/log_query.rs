//! Reading container logs back as `kubectl logs` asks for them: the
//! PodLogOptions of the query (tailLines, sinceSeconds/sinceTime,
//! timestamps, limitBytes, previous, follow) applied to CRI log records
//! (`<time> <stream> <F|P> <text>`, see native/crilog.c).

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// What the client asked for (the kubelet's `containerLogs` query).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<u64>,
    /// Only records at or after this time.
    pub since: Option<Timestamp>,
    pub limit_bytes: Option<u64>,
}

fn flag(field: &str, v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        _ => Err(format!("{field}: want true or false, got {v:?}")),
    }
}

fn count(field: &str, v: &str, min: u64) -> Result<u64, String> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| format!("{field}: want an integer of at least {min}, got {v:?}"))
}

impl LogOptions {
    /// From the query's pairs; an error names the field. `now` anchors
    /// sinceSeconds.
    pub fn from_query(q: &[(String, String)], now: Timestamp) -> Result<Self, String> {
        let mut o = LogOptions::default();
        let mut since_seconds = None;
        let mut since_time = None;
        for (k, v) in q {
            match k.as_str() {
                "follow" => o.follow = flag(k, v)?,
                "previous" => o.previous = flag(k, v)?,
                "timestamps" => o.timestamps = flag(k, v)?,
                "tailLines" => o.tail_lines = Some(count(k, v, 0)?),
                "limitBytes" => o.limit_bytes = Some(count(k, v, 1)?),
                "sinceSeconds" => since_seconds = Some(count(k, v, 1)?),
                "sinceTime" => {
                    since_time = Some(
                        v.parse::<Timestamp>()
                            .map_err(|e| format!("sinceTime: not an RFC 3339 time ({v:?}): {e}"))?,
                    )
                }
                // Known to the API but meaningless here, or the path's.
                _ => {}
            }
        }
        o.since = match (since_seconds, since_time) {
            (Some(_), Some(_)) => {
                return Err("at most one of sinceTime or sinceSeconds may be specified".into())
            }
            (Some(s), None) => Some(
                now.checked_sub(SignedDuration::from_secs(s.min(i64::MAX as u64) as i64))
                    .unwrap_or(Timestamp::MIN),
            ),
            (None, t) => t,
        };
        Ok(o)
    }
}

/// One record of a CRI log file.
#[derive(Debug, PartialEq)]
pub struct Record<'a> {
    pub time: &'a str,
    pub stream: &'a str,
    /// A piece of a line (P); the line goes on in the next record.
    pub partial: bool,
    pub text: &'a [u8],
}

/// One record (one line of the file, without its newline); None if it is
/// not one.
pub fn parse(line: &[u8]) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    let partial = match parts.next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    let text = parts.next().unwrap_or_default();
    Some(Record {
        time,
        stream,
        partial,
        text,
    })
}

/// The whole records in `data` (up to its last newline) and how many bytes
/// they take: a follower reads on from there.
pub fn whole_records(data: &[u8]) -> (Vec<Record<'_>>, usize) {
    let end = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let recs = data[..end]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(parse)
        .collect();
    (recs, end)
}

/// Records to text as kubectl shows them: the line (and its newline once
/// whole), after its time when `timestamps`; those before `since` left
/// out; only the last `tail_lines` lines when tailing.
pub fn render(recs: &[Record<'_>], opts: &LogOptions, tail: bool) -> Vec<u8> {
    let mut start = 0;
    if let (true, Some(n)) = (tail, opts.tail_lines) {
        // Back from the end, counting lines by their whole (F) records.
        let mut lines = 0;
        start = recs.len();
        while start > 0 {
            if !recs[start - 1].partial {
                if lines == n {
                    break;
                }
                lines += 1;
            }
            start -= 1;
        }
    }
    let mut out = Vec::new();
    // A piece of a line continues the previous record's text.
    let mut mid_line = false;
    for r in &recs[start..] {
        if let Some(since) = opts.since {
            if r.time.parse::<Timestamp>().is_ok_and(|t| t < since) {
                continue;
            }
        }
        if opts.timestamps && !mid_line {
            out.extend_from_slice(r.time.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(r.text);
        if !r.partial {
            out.push(b'\n');
        }
        mid_line = r.partial;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const LOG: &[u8] = b"2026-01-01T00:00:01Z stdout F one\n\
2026-01-01T00:00:02.5Z stderr F two\n\
2026-01-01T00:00:03Z stdout P thr\n\
2026-01-01T00:00:03.1Z stdout F ee\n\
2026-01-01T00:00:04Z stdout F \n\
2026-01-01T00:00:05Z stdout F fi";

    #[test]
    fn records_and_lines() {
        let (recs, used) = whole_records(LOG);
        assert_eq!(recs.len(), 5, "the unfinished last record is left for later");
        assert_eq!(used, LOG.len() - "2026-01-01T00:00:05Z stdout F fi".len());
        assert_eq!(recs[1].stream, "stderr");
        assert!(recs[2].partial);
        let all = render(&recs, &LogOptions::default(), true);
        assert_eq!(all, b"one\ntwo\nthree\n\n");
        let ts = LogOptions {
            timestamps: true,
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(render(&recs[..2], &ts, true)).unwrap(),
            "2026-01-01T00:00:01Z one\n2026-01-01T00:00:02.5Z two\n"
        );
    }

    #[test]
    fn tail_counts_whole_lines() {
        let (recs, _) = whole_records(LOG);
        let tail = |n| {
            let o = LogOptions {
                tail_lines: Some(n),
                ..Default::default()
            };
            String::from_utf8(render(&recs, &o, true)).unwrap()
        };
        assert_eq!(tail(0), "");
        assert_eq!(tail(1), "\n");
        assert_eq!(tail(2), "three\n\n");
        assert_eq!(tail(9), "one\ntwo\nthree\n\n");
    }

    #[test]
    fn since_and_query_errors() {
        let now: Timestamp = "2026-01-01T00:00:05Z".parse().unwrap();
        let o = LogOptions::from_query(&q(&[("sinceSeconds", "3"), ("tailLines", "7")]), now).unwrap();
        assert_eq!(o.since, Some("2026-01-01T00:00:02Z".parse().unwrap()));
        assert_eq!(o.tail_lines, Some(7));
        let (recs, _) = whole_records(LOG);
        assert_eq!(render(&recs, &o, false), b"two\nthree\n\n");
        let o = LogOptions::from_query(&q(&[("sinceTime", "2026-01-01T00:00:03.05Z")]), now).unwrap();
        assert_eq!(render(&recs, &o, false), b"ee\n\n");
        for (query, field) in [
            (q(&[("tailLines", "-1")]), "tailLines"),
            (q(&[("follow", "yes")]), "follow"),
            (q(&[("sinceTime", "yesterday")]), "sinceTime"),
            (q(&[("limitBytes", "0")]), "limitBytes"),
            (
                q(&[("sinceSeconds", "1"), ("sinceTime", "2026-01-01T00:00:00Z")]),
                "sinceSeconds",
            ),
        ] {
            let e = LogOptions::from_query(&query, now).unwrap_err();
            assert!(e.contains(field), "{e}");
        }
    }
}
