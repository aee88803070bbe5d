//! `sluice-bench --codecs`: gzip throughput and ratio of flate2's zlib-rs backend
//! and of libdeflate, at each level, on the same log-like records, one core,
//! medians of several runs. Sealed buffers are whole in memory, so libdeflate's
//! one-shot compressor fits them.

use std::io::Write;
use std::time::Instant;

use crate::records::{Generator, Shape};

pub fn run(seed: u64, record_size: usize, shape: Shape, megabytes: usize, runs: usize) {
    let lines = Generator::with_shape(seed, record_size, shape)
        .take_lines(megabytes * 1024 * 1024 / record_size);
    let data = lines.concat().into_bytes();
    let mb = data.len() as f64 / 1e6;
    println!(
        "{} MB of ~{record_size} B records ({shape:?}), median of {runs} runs, one core",
        data.len() / 1_000_000
    );
    let row = |name: &str, level: u32, (secs, size): (f64, usize)| {
        println!(
            "{name:<10} level {level:>2}: {:>5.0} MB/s, ratio {:.3}x",
            mb / secs,
            data.len() as f64 / size as f64
        );
    };
    for level in 1..=9u32 {
        let zlib_rs = median(runs, || {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
            gz.write_all(&data)
                .and_then(|()| gz.finish())
                .map(|v| v.len())
                .unwrap_or(0)
        });
        row("zlib-rs", level, zlib_rs);
    }
    for level in 1..=12i32 {
        let Ok(lvl) = libdeflater::CompressionLvl::new(level) else {
            continue;
        };
        let mut compressor = libdeflater::Compressor::new(lvl);
        let mut out = vec![0u8; compressor.gzip_compress_bound(data.len())];
        let libdeflate = median(runs, || {
            compressor.gzip_compress(&data, &mut out).unwrap_or(0)
        });
        row("libdeflate", level as u32, libdeflate);
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
