//! Records that each carry a number no other record has (and a tenant drawn
//! from it), patched into the prebuilt NDJSON bodies as each request is sent,
//! with a log of which numbers each request carried and how it was answered.
//! `benches/verify_numbered.py` then checks that every acknowledged record
//! landed exactly once, and no other.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// What each record starts with instead of `{`: a 20-digit number (a string,
/// since JSON numbers take no leading zeros) and a tenant `t000`..`t999`.
const FIELDS: &str = "{\"seq\":\"00000000000000000000\",\"tenant\":\"t000\",";
const SEQ_AT: usize = 8;
const TENANT_AT: usize = 41;

/// How a request was answered.
#[derive(Clone, Copy, Debug)]
pub enum Outcome {
    /// 2xx: its records must land exactly once.
    Acked,
    /// An error answer: none of them may land.
    Refused,
    /// No answer (the daemon was killed): each may land once or not at all.
    Unknown,
}

/// Numbers records across all connections.
pub struct Numbering {
    next: AtomicU64,
    tenants: u64,
}

/// A body whose records are ready to be numbered: where each one's fields are.
pub struct Template {
    body: Vec<u8>,
    starts: Vec<usize>,
}

impl Numbering {
    pub fn new(tenants: u64) -> Self {
        Self {
            next: AtomicU64::new(0),
            tenants: tenants.clamp(1, 1000),
        }
    }

    /// The bodies' records, each with the fields to number (lines start `{`).
    pub fn templates(bodies: &[Bytes]) -> Vec<Template> {
        bodies
            .iter()
            .map(|body| {
                let mut out = Vec::with_capacity(body.len() + body.len() / 20);
                let mut starts = Vec::new();
                for line in body.split_inclusive(|&b| b == b'\n') {
                    starts.push(out.len());
                    out.extend_from_slice(FIELDS.as_bytes());
                    out.extend_from_slice(&line[1..]);
                }
                Template { body: out, starts }
            })
            .collect()
    }

    /// A copy of `template` whose records carry the next numbers; returns it
    /// with the first number.
    pub fn number(&self, template: &Template) -> (Bytes, u64) {
        let count = template.starts.len() as u64;
        let first = self.next.fetch_add(count, Ordering::Relaxed);
        let mut body = template.body.clone();
        for (i, &start) in template.starts.iter().enumerate() {
            let seq = first + i as u64;
            let digits = format!("{seq:020}");
            body[start + SEQ_AT..start + SEQ_AT + 20].copy_from_slice(digits.as_bytes());
            // Interleaved: neighbouring records go to different tenants.
            let tenant = format!("{:03}", seq.wrapping_mul(2_654_435_761) % self.tenants);
            body[start + TENANT_AT..start + TENANT_AT + 3].copy_from_slice(tenant.as_bytes());
        }
        (Bytes::from(body), first)
    }
}

/// Writes `first count outcome` per request.
pub fn write_log(path: &Path, requests: &[(u64, usize, Outcome)]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (first, count, outcome) in requests {
        writeln!(out, "{first} {count} {outcome:?}")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_record_gets_its_own_number_and_a_tenant() {
        let body = Bytes::from_static(b"{\"a\":1}\n{\"b\":2}\n");
        let numbering = Numbering::new(24);
        let templates = Numbering::templates(&[body]);
        let (one, first) = numbering.number(&templates[0]);
        let (two, second) = numbering.number(&templates[0]);
        assert_eq!((first, second), (0, 2));
        let text = String::from_utf8([one, two].concat()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        for (i, line) in lines.iter().enumerate() {
            let want = format!("{{\"seq\":\"{i:020}\",\"tenant\":\"t0");
            assert!(line.starts_with(&want), "{line}");
        }
        assert!(lines[1].ends_with(",\"b\":2}"), "{}", lines[1]);
    }
}
