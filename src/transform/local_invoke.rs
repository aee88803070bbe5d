//! `sluice transform test`: runs a plugin, or a chain of them in order, on sample
//! records and prints each verdict and the timings, as a local Lambda invoke
//! would, without a daemon.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine;
use bytes::Bytes;

use super::WasmProcessor;
use super::{Chain, Input, LoadedFrom, Plugin, Verdict};

/// What to run.
pub struct Invocation {
    /// The plugins, in the order they run (a chain, as a stream runs its processors).
    pub modules: Vec<PathBuf>,
    /// NDJSON: one record per line, the newline kept (as producers usually send).
    pub input: PathBuf,
    /// Each module's params, in `modules`' order (see [`assign_params`]).
    pub params: Vec<BTreeMap<String, String>>,
    pub batch_records: usize,
    pub timeout_ms: u64,
    pub memory_mb: u64,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
}

/// Gives each of `modules` modules its params from `--params` values:
/// `N:KEY=VALUE` goes to the Nth module (counted from 1, in `--module` order), a
/// bare `KEY=VALUE` to the only module; with several modules a bare one is
/// refused, since it could be meant for any of them.
pub fn assign_params(
    modules: usize,
    params: &[String],
) -> Result<Vec<BTreeMap<String, String>>, String> {
    let mut assigned = vec![BTreeMap::new(); modules];
    for text in params {
        let (position, pair) = match text.split_once(':') {
            Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                let n: usize = n.parse().map_err(|_| format!("`{text}`: no module {n}"))?;
                (n, rest)
            }
            _ if modules == 1 => (1, text.as_str()),
            _ => {
                return Err(format!(
                    "`{text}`: say which module it is for, as N:KEY=VALUE (1 to {modules}, in --module order)"
                ));
            }
        };
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not [N:]KEY=VALUE"))?;
        let slot = position
            .checked_sub(1)
            .and_then(|i| assigned.get_mut(i))
            .ok_or_else(|| format!("`{text}`: there is no module {position} (1 to {modules})"))?;
        slot.insert(key.to_string(), value.to_string());
    }
    Ok(assigned)
}

/// Runs the plugins in order and writes the results to `out`.
pub fn invoke(inv: &Invocation, out: &mut impl Write) -> anyhow::Result<()> {
    let records = read_records(&inv.input)?;
    let mut plugins = Vec::new();
    for (module, params) in inv.modules.iter().zip(&inv.params) {
        let config = WasmProcessor {
            module: module.clone(),
            params: params.clone(),
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
            module.display(),
            ms(loaded.took)
        )?;
        plugins.push(plugin);
    }
    let mut chain = Chain::new(plugins);
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
    // A failed call fails every record of its batch with one message: it is
    // printed once, at the first of them.
    let mut said: HashMap<(&str, &str), u64> = HashMap::new();
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
                match said.entry((f.code, &f.message)) {
                    Entry::Occupied(first) => writeln!(
                        out,
                        "{} failed {}: as record {}",
                        input.id,
                        f.code,
                        first.get()
                    )?,
                    Entry::Vacant(slot) => {
                        slot.insert(input.id);
                        writeln!(out, "{} failed {}: {}", input.id, f.code, f.message)?;
                    }
                }
            }
        }
    }
    let count = inputs.len().max(1) as f64;
    let seconds = took.as_secs_f64().max(1e-9);
    writeln!(
        out,
        "{} records: {ok} ok, {dropped} dropped, {failed} failed; transform took {:.2} ms ({:.1} µs per record, {:.0} records/s)",
        inputs.len(),
        ms(took),
        seconds * 1e6 / count,
        inputs.len() as f64 / seconds
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

#[cfg(test)]
mod tests {
    use super::*;

    fn params(text: &[&str]) -> Vec<String> {
        text.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn params_go_to_the_module_they_name() {
        let assigned =
            assign_params(2, &params(&["1:fields=ip", "2:redact=a=b", "1:x=1"])).unwrap();
        assert_eq!(assigned[0].get("fields").map(String::as_str), Some("ip"));
        assert_eq!(assigned[0].get("x").map(String::as_str), Some("1"));
        assert_eq!(assigned[1].get("redact").map(String::as_str), Some("a=b"));
        let one = assign_params(1, &params(&["add.env=prod", "1:k=v"])).unwrap();
        assert_eq!(one[0].len(), 2);
        // A key may hold a colon when no module number comes before it.
        let colon = assign_params(1, &params(&["a:b=c"])).unwrap();
        assert_eq!(colon[0].get("a:b").map(String::as_str), Some("c"));
    }

    #[test]
    fn params_that_name_no_module_are_refused() {
        assert!(
            assign_params(2, &params(&["fields=ip"]))
                .unwrap_err()
                .contains("say which module")
        );
        assert!(
            assign_params(2, &params(&["3:k=v"]))
                .unwrap_err()
                .contains("no module 3")
        );
        assert!(
            assign_params(2, &params(&["0:k=v"]))
                .unwrap_err()
                .contains("no module 0")
        );
        assert!(
            assign_params(1, &params(&["novalue"]))
                .unwrap_err()
                .contains("not [N:]KEY=VALUE")
        );
    }
}
