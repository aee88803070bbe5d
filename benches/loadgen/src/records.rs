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
        line.truncate(self.size.saturating_sub(3).max(line.len().min(self.size)));
        line.push_str("\"}\n");
        line
    }
}
