//! Masks IPv4 addresses in each record, keeping their first octets (a common
//! privacy rule for access logs): `203.0.113.42` becomes `203.0.113.0` with
//! `keep_octets = 3` (the default), `203.0.0.0` with 2.
//!
//! params:
//!   keep_octets  1 to 3: how many leading octets stay (default 3)
//! Records that are not UTF-8 are failed with the reason.

mod sluice_transform;

use sluice_transform::{log, Answer, Params, Plugin, Record, INFO};

struct MaskIp {
    keep_octets: usize,
}

impl Plugin for MaskIp {
    fn setup(params: Params) -> Result<Self, String> {
        let mut keep_octets = 3;
        for (key, value) in params {
            match key.as_str() {
                "keep_octets" => {
                    keep_octets = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=3).contains(n))
                        .ok_or(format!("keep_octets must be 1, 2 or 3, not {value:?}"))?;
                }
                other => return Err(format!("unknown param {other:?} (expected keep_octets)")),
            }
        }
        log(INFO, &format!("masking IPv4 addresses past {keep_octets} octet(s)"));
        Ok(MaskIp { keep_octets })
    }

    fn record(&mut self, record: &Record) -> Answer {
        match record.text() {
            Ok(text) => Answer::ok(mask(text, self.keep_octets)),
            Err(reason) => Answer::failed(reason),
        }
    }
}

/// `text` with every dotted quad's octets past the first `keep` set to 0.
fn mask(text: &str, keep: usize) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.');
        match starts_word.then(|| quad(&text[i..])).flatten() {
            Some((len, octets)) => {
                let masked: Vec<String> = octets
                    .iter()
                    .enumerate()
                    .map(|(n, o)| if n < keep { o.to_string() } else { "0".into() })
                    .collect();
                out.push_str(&masked.join("."));
                i += len;
            }
            None => {
                let c = text[i..].chars().next().unwrap_or('\0');
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    out
}

/// A dotted quad at the start of `text`: its length and octets.
fn quad(text: &str) -> Option<(usize, [u8; 4])> {
    let bytes = text.as_bytes();
    let mut octets = [0u8; 4];
    let mut at = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            if bytes.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
        let digits = bytes[at..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 3 {
            return None;
        }
        *octet = text[at..at + digits].parse().ok()?;
        at += digits;
    }
    let ends_word = bytes.get(at).map_or(true, |b| !(b.is_ascii_digit() || *b == b'.'));
    ends_word.then(|| (at, octets))
}

sluice_transform::export_plugin!(MaskIp);
