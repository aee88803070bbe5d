//! The yardstick the performance targets are stated in: one core of stock zlib at
//! level 6, as Python's `zlib` (which links the system's zlib) or `gzip -6` run it,
//! on the same records the run sends, measured in the same run, so that a ratio to
//! it holds on any machine. How fast zlib is depends much on the records (repetitive
//! logs compress fast, random ids and words slowly), so a figure without its
//! yardstick says little.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Stock zlib level 6 on one core: MB/s of input, ratio, and zlib's version.
pub struct Yardstick {
    pub mb_per_s: f64,
    pub ratio: f64,
    pub zlib_version: String,
}

/// gzip framing (wbits 31) at level 6 over all of `data`, median of three passes.
const SCRIPT: &str = r#"
import statistics, sys, time, zlib
data = sys.stdin.buffer.read()
times = []
for _ in range(3):
    start = time.perf_counter()
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    size = len(c.compress(data)) + len(c.flush())
    times.append(time.perf_counter() - start)
print(len(data) / statistics.median(times) / 1e6, len(data) / size, zlib.ZLIB_RUNTIME_VERSION)
"#;

/// Measures stock zlib on `data` with `python3` (one process, one core).
pub fn measure(data: &[u8]) -> anyhow::Result<Yardstick> {
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("the zlib-6 yardstick needs python3 (its zlib module links stock zlib)")?;
    child
        .stdin
        .take()
        .context("python3 has no stdin")?
        .write_all(data)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("python3 failed measuring zlib level 6: {}", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace();
    let mut number = || -> anyhow::Result<f64> {
        fields
            .next()
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("cannot read the yardstick from {text:?}"))
    };
    let (mb_per_s, ratio) = (number()?, number()?);
    let zlib_version = text.split_whitespace().nth(2).unwrap_or("?").to_string();
    Ok(Yardstick {
        mb_per_s,
        ratio,
        zlib_version,
    })
}
