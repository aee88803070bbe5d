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

pub struct Generator {
    rng: StdRng,
    words: Vec<String>,
    size: usize,
}

impl Generator {
    pub fn new(seed: u64, size: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let words = (0..400)
            .map(|_| {
                (0..rng.random_range(1..=4))
                    .map(|_| SYLLABLES[rng.random_range(0..SYLLABLES.len())])
                    .collect::<String>()
            })
            .collect();
        Self { rng, words, size }
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
        while line.len() + 3 < self.size {
            let word = &self.words[self.rng.random_range(0..self.words.len())];
            line.push_str(word);
            line.push(' ');
        }
        // The last word may overshoot; the text is ASCII, so any cut is a char boundary.
        let body_len = self.size.saturating_sub(3);
        if line.len() > body_len {
            line.truncate(body_len);
        }
        line.push_str("\"}\n");
        line
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn records_are_one_kib_json_lines_that_gzip_like_logs() {
        let lines = Generator::new(7, 1024).take_lines(2000);
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
