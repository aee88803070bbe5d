//! `sluice transform test`: runs a plugin on sample records and prints each
//! verdict and the timings, as a local Lambda invoke would, without a daemon.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine;
use bytes::Bytes;

use super::{Chain, Input, LoadedFrom, Plugin, Verdict};
use crate::config::WasmProcessor;

/// What to run.
pub struct Invocation {
    pub module: PathBuf,
    /// NDJSON: one record per line, the newline kept (as producers usually send).
    pub input: PathBuf,
    pub params: BTreeMap<String, String>,
    pub batch_records: usize,
    pub timeout_ms: u64,
    pub memory_mb: u64,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
}

/// Runs the plugin and writes the results to `out`.
pub fn invoke(inv: &Invocation, out: &mut impl Write) -> anyhow::Result<()> {
    let records = read_records(&inv.input)?;
    let config = WasmProcessor {
        module: inv.module.clone(),
        params: inv.params.clone(),
        timeout_ms: inv.timeout_ms,
        memory_mb: inv.memory_mb,
        batch_records: inv.batch_records,
        batch_mb: 6,
        retries: 0,
        env: Vec::new(),
        read_dirs: BTreeMap::new(),
        network: false,
        allowed_hosts: Vec::new(),
        inherit_stdio: false,
    };
    let (plugin, loaded) = Plugin::load(&config, "transform-test", inv.cache_dir.as_deref())?;
    let how = match loaded.from {
        LoadedFrom::Compiled => "compiled",
        LoadedFrom::Cache => "from cache",
    };
    writeln!(
        out,
        "loaded {} ({how}) in {:.1} ms",
        inv.module.display(),
        ms(loaded.took)
    )?;
    let mut chain = Chain::new(vec![plugin]);
    let now = crate::record::now_ms();
    let inputs: Vec<Input> = records
        .into_iter()
        .enumerate()
        .map(|(i, data)| Input {
            id: i as u64,
            data,
            arrival_ms: now,
            kinesis: None,
        })
        .collect();
    let started = Instant::now();
    let mut written = Vec::new();
    let verdicts = chain.run(&inputs, &mut written);
    let took = started.elapsed();
    let (mut ok, mut dropped, mut failed) = (0, 0, 0);
    for (input, verdict) in inputs.iter().zip(&verdicts) {
        match verdict {
            Verdict::Ok {
                data,
                partition_keys,
            } => {
                ok += 1;
                write!(out, "{} ok {}", input.id, printable(&written[data.clone()]))?;
                if !partition_keys.is_empty() {
                    write!(
                        out,
                        " partition_keys={}",
                        serde_json::to_string(partition_keys)?
                    )?;
                }
                writeln!(out)?;
            }
            Verdict::Dropped => {
                dropped += 1;
                writeln!(out, "{} dropped", input.id)?;
            }
            Verdict::Failed(f) => {
                failed += 1;
                writeln!(out, "{} failed {}: {}", input.id, f.code, f.message)?;
            }
        }
    }
    let count = inputs.len().max(1) as f64;
    writeln!(
        out,
        "{} records: {ok} ok, {dropped} dropped, {failed} failed; transform took {:.2} ms ({:.1} µs per record)",
        inputs.len(),
        ms(took),
        took.as_secs_f64() * 1e6 / count
    )?;
    Ok(())
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn read_records(path: &Path) -> anyhow::Result<Vec<Bytes>> {
    let text =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(text
        .split_inclusive(|&b| b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(Bytes::copy_from_slice)
        .collect())
}

/// The data as JSON text when it is UTF-8 (trailing newline shown as `\n`), else
/// as base64.
fn printable(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(text) => serde_json::to_string(text).unwrap_or_default(),
        Err(_) => format!(
            "base64:{}",
            base64::engine::general_purpose::STANDARD.encode(data)
        ),
    }
}
