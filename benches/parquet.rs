//! JSON → Parquet conversion speed and memory, with gzip of the same records as the
//! raw-format comparison.
//!
//!   cargo bench --bench parquet                 # throughput, one core, medians
//!   cargo bench --bench parquet -- memory 128 [256]   # peak RSS converting one 128 MiB
//!                                                     # buffer ([row-group MiB])
//!
//! Records are ~1 KiB JSON objects with 20 columns of every kind (timestamps,
//! decimals, strings of low and high cardinality, an array, a struct, a map), as
//! an event-log stream would send them.

use std::time::Instant;

use sluice::encode::Compression;
use sluice::encode::parquet::{Column, DeserializerConfig, ParquetEncoder, WriterSettings};

const COLUMNS: &[(&str, &str)] = &[
    ("ts", "timestamp"),
    ("user_id", "string"),
    ("session", "string"),
    ("event", "string"),
    ("amount", "decimal(10,2)"),
    ("price", "double"),
    ("qty", "int"),
    ("flag", "boolean"),
    ("country", "string"),
    ("city", "string"),
    ("user_agent", "string"),
    ("ip", "string"),
    ("tags", "array<string>"),
    ("geo", "struct<lat:double,lon:double>"),
    ("attrs", "map<string,string>"),
    ("referrer", "string"),
    ("path", "string"),
    ("status", "smallint"),
    ("latency_ms", "bigint"),
    ("note", "string"),
];

const EVENTS: &[&str] = &["view", "click", "add_to_cart", "purchase", "search"];
const COUNTRIES: &[&str] = &["DE", "FR", "US", "JP", "BR", "IN", "GB", "NL"];

/// A small deterministic generator (xorshift), so every run converts the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One ~1 KiB record.
fn record(i: u64, rng: &mut Rng) -> String {
    let seconds = i / 100;
    let ts = format!(
        "2026-11-24T{:02}:{:02}:{:02}.{:03}Z",
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
        rng.below(1000)
    );
    let note_len = 380 + rng.below(80) as usize;
    let note: String = (0..note_len)
        .map(|_| (b'a' + rng.below(26) as u8) as char)
        .collect();
    format!(
        concat!(
            r#"{{"ts":"{ts}","user_id":"user-{user:08}","session":"{session:016x}","event":"{event}","#,
            r#""amount":{amount}.{cents:02},"price":{price},"qty":{qty},"flag":{flag},"country":"{country}","#,
            r#""city":"city-{city}","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36","#,
            r#""ip":"10.{a}.{b}.{c}","tags":["t{t1}","t{t2}","t{t3}"],"geo":{{"lat":{lat},"lon":{lon}}},"#,
            r#""attrs":{{"plan":"p{plan}","ab":"variant-{ab}"}},"referrer":"https://example.com/r/{r}","#,
            r#""path":"/shop/item/{item}","status":{status},"latency_ms":{latency},"note":"{note}"}}"#,
            "\n"
        ),
        ts = ts,
        user = rng.below(100_000),
        session = rng.next(),
        event = EVENTS[rng.below(EVENTS.len() as u64) as usize],
        amount = rng.below(100_000),
        cents = rng.below(100),
        price = rng.below(1_000_000) as f64 / 100.0,
        qty = rng.below(20),
        flag = rng.below(2) == 1,
        country = COUNTRIES[rng.below(COUNTRIES.len() as u64) as usize],
        city = rng.below(500),
        chrome = 100 + rng.below(30),
        a = rng.below(256),
        b = rng.below(256),
        c = rng.below(256),
        t1 = rng.below(50),
        t2 = rng.below(50),
        t3 = rng.below(50),
        lat = (rng.below(180_000) as f64 / 1000.0) - 90.0,
        lon = (rng.below(360_000) as f64 / 1000.0) - 180.0,
        plan = rng.below(4),
        ab = rng.below(3),
        r = rng.below(1000),
        item = rng.below(50_000),
        status = [200, 200, 200, 304, 404, 500][rng.below(6) as usize],
        latency = rng.below(3000),
        note = note,
    )
}

/// Records totalling at least `bytes`: their concatenation (as a sealed buffer holds
/// them) and each one's end offset.
fn records(bytes: usize) -> (Vec<u8>, Vec<usize>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut data, mut ends) = (Vec::with_capacity(bytes + 2048), Vec::new());
    let mut i = 0;
    while data.len() < bytes {
        data.extend_from_slice(record(i, &mut rng).as_bytes());
        ends.push(data.len());
        i += 1;
    }
    (data, ends)
}

fn encoder(block_size_mb: u64) -> ParquetEncoder {
    let columns: Vec<Column> = COLUMNS
        .iter()
        .map(|(name, ty)| Column {
            name: name.to_string(),
            ty: ty.parse().expect("bench column types parse"),
        })
        .collect();
    ParquetEncoder::new(
        &columns,
        &DeserializerConfig::default(),
        WriterSettings {
            block_size_mb,
            ..WriterSettings::default()
        },
    )
    .expect("bench encoder")
}

fn slices<'a>(data: &'a [u8], ends: &'a [usize]) -> impl Iterator<Item = &'a [u8]> {
    std::iter::once(0)
        .chain(ends.iter().copied())
        .zip(ends)
        .map(|(start, &end)| &data[start..end])
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The process's peak resident set so far, in MiB (Linux `VmHWM`).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn throughput(bytes: usize, runs: usize) {
    let (data, ends) = records(bytes);
    let mb = data.len() as f64 / (1 << 20) as f64;
    let encoder = encoder(256);
    let (mut parquet, mut gzip) = (Vec::new(), Vec::new());
    let (mut parquet_size, mut gzip_size) = (0, 0);
    for _ in 0..runs {
        let t = Instant::now();
        let out = encoder
            .encode(slices(&data, &ends))
            .expect("conversion succeeds");
        parquet.push(t.elapsed().as_secs_f64());
        assert_eq!(out.rows, ends.len(), "every bench record converts");
        parquet_size = out.body.len();

        let t = Instant::now();
        gzip_size = Compression::Gzip
            .encode(&data, 6, "bench")
            .expect("gzip")
            .len();
        gzip.push(t.elapsed().as_secs_f64());
    }
    let records = ends.len() as f64;
    let (p, g) = (median(parquet), median(gzip));
    println!(
        "input: {records} records, {mb:.1} MiB of JSON ({:.0} B/record, {} columns); medians of {runs} runs, one thread",
        data.len() as f64 / records,
        COLUMNS.len()
    );
    println!(
        "parquet (snappy): {:.1} MiB/s, {:.0} records/s, output {:.1} MiB ({:.1}% of input)",
        mb / p,
        records / p,
        parquet_size as f64 / (1 << 20) as f64,
        100.0 * parquet_size as f64 / data.len() as f64
    );
    println!(
        "raw gzip level 6: {:.1} MiB/s, {:.0} records/s, output {:.1} MiB ({:.1}% of input)",
        mb / g,
        records / g,
        gzip_size as f64 / (1 << 20) as f64,
        100.0 * gzip_size as f64 / data.len() as f64
    );
}

fn memory(buffer_mb: usize, block_size_mb: u64) {
    let (data, ends) = records(buffer_mb << 20);
    let encoder = encoder(block_size_mb);
    let before = peak_rss_mb();
    // As the daemon converts: into pieces that an upload takes as they come
    // (here a thread that drops them). Measured first, as peaks only grow.
    let (pieces, mut rx) = sluice::encode::pieces::Pieces::channel();
    let upload = std::thread::spawn(move || {
        let mut bytes = 0;
        while let Some(piece) = rx.blocking_recv() {
            bytes += piece.len();
        }
        bytes
    });
    let written = encoder
        .encode_to(slices(&data, &ends), pieces)
        .expect("conversion succeeds");
    written.out.finish();
    let size = upload.join().expect("the upload thread");
    let streamed = peak_rss_mb();
    // The whole file in memory, as before streaming.
    let out = encoder
        .encode(slices(&data, &ends))
        .expect("conversion succeeds");
    let whole = peak_rss_mb();
    assert_eq!(out.body.len(), size, "the same file either way");
    println!(
        "{buffer_mb} MiB buffer ({} records), {block_size_mb} MiB row groups: peak RSS {before:.0} MiB holding the buffer; \
         streamed {streamed:.0} MiB (+{:.0} for conversion); file in memory {whole:.0} MiB (+{:.0}); Parquet file {:.1} MiB",
        ends.len(),
        streamed - before,
        whole - before,
        size as f64 / (1 << 20) as f64
    );
}

fn main() {
    // `cargo test --all-targets` runs this unoptimised with no `--bench`: a quick
    // smoke run then, so the benchmark stays working without slowing the tests.
    if !std::env::args().any(|a| a == "--bench") {
        throughput(1 << 20, 1);
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("memory") => memory(
            args.get(1).and_then(|s| s.parse().ok()).unwrap_or(128),
            args.get(2).and_then(|s| s.parse().ok()).unwrap_or(256),
        ),
        _ => throughput(64 << 20, 5),
    }
}
