//! `sluice-bench codecs`: deflate throughput of flate2's zlib-rs backend (what Sluice
//! uses) against miniz_oxide (flate2's default backend), on the same log-like
//! records, one core, medians of several runs.

use std::io::Write;
use std::time::Instant;

use crate::records::Generator;

pub fn run(seed: u64, record_size: usize, megabytes: usize, runs: usize) {
    let lines = Generator::new(seed, record_size).take_lines(megabytes * 1024 * 1024 / record_size);
    let data = lines.concat().into_bytes();
    println!(
        "{} MB of ~{record_size} B records, median of {runs} runs, one core",
        data.len() / 1_000_000
    );
    for level in [1u32, 6] {
        let zlib_rs = median(runs, || {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
            gz.write_all(&data)
                .and_then(|()| gz.finish())
                .map(|v| v.len())
                .unwrap_or(0)
        });
        let miniz = median(runs, || {
            miniz_oxide::deflate::compress_to_vec(&data, level as u8).len()
        });
        let mb = data.len() as f64 / 1e6;
        println!(
            "level {level}: zlib-rs {:.0} MB/s (ratio {:.2}x)   miniz_oxide {:.0} MB/s (ratio {:.2}x)   zlib-rs/miniz {:.2}x",
            mb / zlib_rs.0,
            data.len() as f64 / zlib_rs.1 as f64,
            mb / miniz.0,
            data.len() as f64 / miniz.1 as f64,
            miniz.0 / zlib_rs.0
        );
    }
}

/// Median seconds of `runs` calls, and the output size of the last.
fn median(runs: usize, mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let start = Instant::now();
        size = f();
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], size)
}
