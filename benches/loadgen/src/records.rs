//! Log-like records: ~1 KiB JSON lines with random ids and a message drawn from a
//! few hundred words, so that gzip compresses them about 3.5× as it does real logs
//! (padding that compresses 100× would flatter every contender).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const LEVELS: &[&str] = &["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];
const SERVICES: &[&str] = &[
    "checkout",
    "search",
    "auth",
    "inventory",
    "payments",
    "gateway",
];
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "ven", "dor", "al", "tri", "qua", "ex", "in",
    "zo", "bel", "cor", "dun", "fa", "gri", "hol", "jas", "kel", "mor", "nis", "pra", "sel", "tor",
];

/// What fills a record past its common fields. zlib's speed depends much on it: it
/// searches longer on text of short repeats (`Words`, about 28 MB/s at level 6
/// here) than on templated text with random tokens (`Templated`, about twice that).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// A message of words drawn from a few hundred (gzip about 3.8×).
    Words,
    /// Application-log messages from templates, with ids, hex tokens and key=value
    /// attributes (gzip about 3.5×).
    Templated,
}

const TEMPLATES: &[&str] = &[
    "order {id} checked out by user {id} in {n} ms",
    "cache miss for key session:{hex}, fetched from origin in {n} ms",
    "payment {hex} authorised for {n}.{n} EUR, card ending {n}",
    "retrying request {hex} to upstream inventory-{n} (attempt {n} of 5)",
    "user {id} signed in from 10.{n}.{n}.{n} with mfa=totp",
    "slow query on orders_{n}: {n} ms, rows examined {id}",
    "published event {hex} to topic orders.v{n}, partition {n}, offset {id}",
    "GET /api/v1/products/{id}?page={n}&sort=price returned {n} items",
    "token {hex} expired {n} s ago for client mobile-ios-{n}",
    "worker {n} finished job {hex} after {n} ms, queue depth {n}",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "okhttp/4.12.0 shop-android/7.31.2 (Pixel 8; Android 15)",
    "Go-http-client/1.1 inventory-sync/2.4.0",
];
const KEYS: &[&str] = &[
    "region",
    "zone",
    "pod",
    "container",
    "image",
    "version",
    "build",
    "tenant",
    "plan",
    "locale",
    "device",
    "os",
    "browser",
    "ab_bucket",
    "feature",
    "route",
    "upstream",
];

pub struct Generator {
    rng: StdRng,
    words: Vec<String>,
    size: usize,
    shape: Shape,
}

impl Generator {
    pub fn with_shape(seed: u64, size: usize, shape: Shape) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let words = (0..400)
            .map(|_| {
                (0..rng.random_range(1..=4))
                    .map(|_| SYLLABLES[rng.random_range(0..SYLLABLES.len())])
                    .collect::<String>()
            })
            .collect();
        Self {
            rng,
            words,
            size,
            shape,
        }
    }

    pub fn take_lines(&mut self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.line()).collect()
    }

    fn line(&mut self) -> String {
        let r = &mut self.rng;
        let mut line = format!(
            "{{\"ts\":\"2026-11-24T10:{:02}:{:02}.{:03}Z\",\"level\":\"{}\",\"service\":\"{}\",\"host\":\"web-{}\",\
             \"trace_id\":\"{:032x}\",\"user_id\":{},\"status\":{},\"latency_ms\":{},\"path\":\"/api/v1/orders/{}\",\"msg\":\"",
            r.random_range(0..60),
            r.random_range(0..60),
            r.random_range(0..1000),
            LEVELS[r.random_range(0..LEVELS.len())],
            SERVICES[r.random_range(0..SERVICES.len())],
            r.random_range(1..64),
            r.random::<u128>(),
            r.random_range(1..5_000_000),
            [200, 200, 200, 201, 404, 500][r.random_range(0..6)],
            r.random_range(1..2000),
            r.random_range(1..1_000_000),
        );
        match self.shape {
            Shape::Words => {
                while line.len() + 3 < self.size {
                    let word = &self.words[self.rng.random_range(0..self.words.len())];
                    line.push_str(word);
                    line.push(' ');
                }
            }
            Shape::Templated => self.templated(&mut line),
        }
        // The last word may overshoot; the text is ASCII, so any cut is a char boundary.
        let body_len = self.size.saturating_sub(3);
        if line.len() > body_len {
            line.truncate(body_len);
        }
        line.push_str("\"}\n");
        line
    }

    /// A templated message, then ` key=value` attributes up to the record's size.
    fn templated(&mut self, line: &mut String) {
        let r = &mut self.rng;
        line.push_str(AGENTS[r.random_range(0..AGENTS.len())]);
        line.push_str(" | ");
        let template = TEMPLATES[r.random_range(0..TEMPLATES.len())];
        for (i, part) in template.split('{').enumerate() {
            let text = match (i, part.split_once('}')) {
                (0, _) | (_, None) => part,
                (_, Some((hole, text))) => {
                    match hole {
                        "id" => line.push_str(&r.random_range(1..10_000_000u32).to_string()),
                        "hex" => line.push_str(&format!("{:016x}", r.random::<u64>())),
                        _ => line.push_str(&r.random_range(0..256u32).to_string()),
                    }
                    text
                }
            };
            line.push_str(text);
        }
        while line.len() + 3 < self.size {
            let key = KEYS[r.random_range(0..KEYS.len())];
            let value = match r.random_range(0..4) {
                0 => format!("{:08x}", r.random::<u32>()),
                1 => r.random_range(0..100u32).to_string(),
                _ => self.words[r.random_range(0..40)].clone(),
            };
            line.push_str(&format!(" {key}={value}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn records_are_one_kib_json_lines_that_gzip_like_logs() {
        let lines = Generator::with_shape(7, 1024, Shape::Words).take_lines(2000);
        for line in &lines[..50] {
            assert!((1000..=1024).contains(&line.len()), "{} bytes", line.len());
            assert!(line.ends_with("\"}\n"));
            assert!(line.starts_with("{\"ts\":\""));
        }
        let data = lines.concat();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        gz.write_all(data.as_bytes()).unwrap();
        let ratio = data.len() as f64 / gz.finish().unwrap().len() as f64;
        assert!(
            (3.0..4.5).contains(&ratio),
            "gzip ratio {ratio:.2} is not log-like"
        );
        // Distinct ids: no two lines are the same.
        let mut unique = lines.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), lines.len());
    }
}
