//! Transform plugins in-process: what the host adds per call, records/s through
//! each example plugin, and the time to load a plugin compiled vs from the cache.
//!
//!   cargo bench --bench transform [PLUGINS_DIR]
//!
//! PLUGINS_DIR holds the built plugins; by default the test setup installs the
//! toolchains and builds them (`tests/setup/install.sh`, `build-plugins.sh`). Calls
//! run on one thread, as a stream's transform stage does. Medians of 5 rounds.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice::config::WasmProcessor;
use sluice::transform::{Chain, Input, Plugin, Verdict};

fn processor(module: PathBuf, params: &[(&str, &str)]) -> WasmProcessor {
    WasmProcessor {
        module,
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        timeout_ms: 60_000,
        memory_mb: 512,
        batch_records: 500,
        batch_mb: 6,
        retries: 0,
        env: Vec::new(),
        read_dirs: Default::default(),
        network: false,
        allowed_hosts: Vec::new(),
        inherit_stdio: false,
    }
}

/// ~1 KiB JSON records of an event log.
fn json_records(n: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| {
            let level = if i % 4 == 0 { "DEBUG" } else { "INFO" };
            let mut text = format!(
                "{{\"customer\":\"c{}\",\"ts\":{},\"level\":\"{level}\",\"password\":\"p{i}\",\"card\":{{\"number\":\"4111{i:012}\"}},\"pad\":\"",
                i % 7,
                1_700_000_000_000_u64 + i as u64 * 1000
            );
            while text.len() < 1021 {
                text.push((b'a' + (i + text.len()) as u8 % 26) as char);
            }
            text.push_str("\"}\n");
            Bytes::from(text)
        })
        .collect()
}

/// Gzipped CloudWatch Logs data messages of 10 events (~1 KiB of messages).
fn cloudwatch_records(n: usize) -> Vec<Bytes> {
    use std::io::Write;
    (0..n)
        .map(|i| {
            let events: Vec<serde_json::Value> = (0..10)
                .map(|j| serde_json::json!({"id": format!("{i}-{j}"), "timestamp": 1_700_000_000_000_u64 + j, "message": format!("{i} {j} GET /api/v1/items?page={j} 200 12ms user-agent=Mozilla/5.0 (X11; Linux x86_64)")}))
                .collect();
            let message = serde_json::json!({"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "/app", "logStream": "s", "subscriptionFilters": ["f"], "logEvents": events});
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(message.to_string().as_bytes()).expect("gzip in memory");
            Bytes::from(gz.finish().expect("gzip in memory"))
        })
        .collect()
}

fn inputs(records: &[Bytes]) -> Vec<Input> {
    records
        .iter()
        .enumerate()
        .map(|(i, data)| Input {
            id: i as u64,
            data: data.clone(),
            arrival_ms: 1_700_000_000_000,
            kinesis: None,
        })
        .collect()
}

/// An example plugin's name, its params, and the records it is benchmarked on.
type Example<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [Bytes]);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Calls `chain` on `batch` repeatedly: the median time of one call.
fn time_calls(chain: &mut Chain, batch: &[Input], calls: usize, rounds: usize) -> Duration {
    let mut written = Vec::new();
    let verdicts = chain.run(batch, &mut written); // warm the instance
    assert!(
        verdicts.iter().all(|v| !matches!(v, Verdict::Failed(_))),
        "the plugin failed records: {:?}",
        verdicts.iter().find(|v| matches!(v, Verdict::Failed(_)))
    );
    let mut per_call = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..calls {
            written.clear();
            std::hint::black_box(chain.run(batch, &mut written));
        }
        per_call.push(started.elapsed().as_secs_f64() / calls as f64);
    }
    Duration::from_secs_f64(median(per_call))
}

fn load(module: &Path, params: &[(&str, &str)], cache: Option<&Path>) -> (Chain, Duration) {
    let (plugin, loaded) = Plugin::load(&processor(module.to_path_buf(), params), "bench", cache)
        .unwrap_or_else(|e| panic!("{e}"));
    (Chain::new(vec![plugin]), loaded.took)
}

/// Runs a setup script; its last line of output.
fn setup(script: &str, args: &[&std::ffi::OsStr]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/setup")
        .join(script);
    let out = std::process::Command::new("bash")
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn plugins_dir() -> PathBuf {
    if let Some(dir) = std::env::args().skip(1).find(|a| a != "--bench") {
        return PathBuf::from(dir);
    }
    let venv = PathBuf::from(setup("install.sh", &[]));
    let cache = venv.parent().unwrap_or(&venv).as_os_str().to_owned();
    PathBuf::from(setup("build-plugins.sh", &[&cache]))
}

fn main() {
    // `cargo test --all-targets` runs this unoptimised with no `--bench`: a quick
    // smoke run of the host with the no-op plugin, when the plugins are built.
    let bench = std::env::args().any(|a| a == "--bench");
    let dir = plugins_dir();
    let (calls, rounds) = if bench { (200, 5) } else { (2, 1) };

    let records = json_records(500);
    let batch = inputs(&records);
    let (mut noop, _) = load(&dir.join("c-noop.wasm"), &[], None);
    let per_call = time_calls(&mut noop, &batch, calls, rounds);
    println!(
        "c-noop, 500 x 1 KiB per call: {:.1} µs per call, {:.3} µs per record",
        per_call.as_secs_f64() * 1e6,
        per_call.as_secs_f64() * 1e6 / 500.0
    );
    if !bench {
        return;
    }

    let cwl = cloudwatch_records(500);
    let examples: [Example; 5] = [
        ("c-noop", &[], &records),
        ("c-drop", &[("contains", "\"DEBUG\"")], &records),
        (
            "js-enrich",
            &[("add.env", "prod"), ("redact", "password,card.number")],
            &records,
        ),
        (
            "py-partition",
            &[("fields", "customer"), ("time_field", "ts")],
            &records,
        ),
        ("py-cloudwatch", &[], &cwl),
    ];
    for (name, params, records) in examples {
        let module = dir.join(format!("{name}.wasm"));
        let cache = tempfile::tempdir().expect("tempdir");
        let (_, compiled) = load(&module, params, Some(cache.path()));
        let mut cached = Vec::new();
        let mut chain = None;
        for _ in 0..rounds {
            let (c, took) = load(&module, params, Some(cache.path()));
            cached.push(took.as_secs_f64());
            chain = Some(c);
        }
        let Some(mut chain) = chain else { continue };
        let batch = inputs(records);
        let calls = if name.starts_with("c-") { 200 } else { 10 };
        let per_call = time_calls(&mut chain, &batch, calls, rounds);
        println!(
            "{name:14} {:>9.0} records/s   load: compiled {:>7.1} ms, from cache {:>6.1} ms",
            500.0 / per_call.as_secs_f64(),
            compiled.as_secs_f64() * 1e3,
            median(cached) * 1e3
        );
    }
}
