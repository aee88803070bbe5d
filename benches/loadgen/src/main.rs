//! `sluice-bench`: a load generator for Sluice's direct-PUT endpoint and file source.
//!
//! It starts a daemon (or targets a running one), drives `PutRecordBatch` or the
//! NDJSON endpoint over many keep-alive connections with log-like records (~1 KiB
//! JSON lines, random ids, a message drawn from a few hundred words: about 3.8× with
//! gzip), or has it tail a log file of such records written before it starts; then
//! stops the daemon and counts the records that landed in its output. It reports
//! records/s acknowledged and landed, MB/s against the zlib-6 yardstick measured on
//! the same records, ack latency percentiles, and the daemon's CPU time and peak RSS.
//! Request bodies are built before the clock starts, so the generator itself costs
//! little CPU.

mod codecs;
mod landed;
mod numbered;
mod records;
mod yardstick;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Mode {
    /// Firehose `PutRecordBatch` (JSON, base64 records).
    Firehose,
    /// `POST /delivery-streams/{name}/records`, one record per line.
    Ndjson,
    /// A file source tailing a log of `--file-mb` written before the daemon starts
    /// (a sidecar catching up); no requests, so no acknowledgement latency.
    File,
}

#[derive(Parser, Debug)]
#[command(about = "Drive load at a Sluice daemon and measure what it acknowledges and lands")]
struct Args {
    /// The sluice binary to start (default: `sluice` beside this binary).
    #[arg(long)]
    sluice: Option<PathBuf>,
    /// Target an already running daemon instead (no landed count, no CPU/RSS).
    #[arg(long)]
    target: Option<String>,
    #[arg(long, default_value = "default")]
    stream: String,
    #[arg(long, value_enum, default_value = "firehose")]
    mode: Mode,
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Records per request.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Approximate bytes per record (per sub-record with `--sub-records`).
    #[arg(long, default_value_t = 1024)]
    record_size: usize,
    /// What the records hold besides their common fields.
    #[arg(long, value_enum, default_value = "words")]
    records: records::Shape,
    /// JSON lines per record sent: records that aggregate this many sub-records
    /// (for `deaggregation`); landed records are counted as lines.
    #[arg(long, default_value_t = 1)]
    sub_records: usize,
    /// Daemon settings when this tool starts it.
    #[arg(long, default_value = "gzip")]
    compression: String,
    #[arg(long)]
    compression_level: Option<u32>,
    #[arg(long, default_value_t = 5)]
    size_mb: u64,
    #[arg(long, default_value_t = 300)]
    interval_seconds: u64,
    /// The spool's `durability`: `fsync` (acknowledge once on disk) or `buffered`.
    #[arg(long, default_value = "fsync")]
    durability: String,
    /// Deliver to this S3-compatible endpoint instead of a local folder (with
    /// `--s3-bucket`; credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`).
    #[arg(long, requires = "s3_bucket")]
    s3_endpoint: Option<String>,
    #[arg(long)]
    s3_bucket: Option<String>,
    /// The stream's `processors`, as TOML (`[{ type = "metadata_extraction", query = "..." }]`).
    #[arg(long)]
    processors: Option<String>,
    /// The stream's `format`, as TOML (`{ type = "parquet", columns = [...] }`);
    /// landed records are then counted as the Parquet files' rows.
    #[arg(long)]
    format: Option<String>,
    /// Deliver into an Iceberg table instead (a SQLite SQL catalog and a local
    /// warehouse), created with the columns of `--format`; landed records are
    /// the rows of the table's data files.
    #[arg(long, requires = "format")]
    iceberg: bool,
    /// The stream's `max_in_flight_objects` (default: the daemon's own default).
    #[arg(long)]
    max_in_flight_objects: Option<usize>,
    /// The stream's `processing_threads` (default: the daemon's own default).
    #[arg(long)]
    processing_threads: Option<usize>,
    /// The destination's `prefix` (its error prefix is then `errors/!{firehose:error-output-type}/`).
    #[arg(long)]
    prefix: Option<String>,
    /// Megabytes of records in the log file of `--mode file`.
    #[arg(long, default_value_t = 512)]
    file_mb: usize,
    /// Requests per second over all connections (0: as fast as the daemon answers).
    /// Half the sustained maximum measures acknowledgement latency under load.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Distinct request bodies to cycle through.
    #[arg(long, default_value_t = 64)]
    bodies: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number every record (`"seq"`, and `"tenant"` from `--tenants`) and write
    /// each request's numbers and answer to this file, for
    /// `benches/verify_numbered.py` (NDJSON mode).
    #[arg(long)]
    numbered_log: Option<PathBuf>,
    /// Tenants the numbered records are spread over, interleaved.
    #[arg(long, default_value_t = 24)]
    tenants: u64,
    /// Instead of driving a daemon, measure deflate backends on the same records.
    #[arg(long)]
    codecs: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.codecs {
        codecs::run(args.seed, args.record_size, args.records, 64, 5);
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

struct Spawned {
    child: Child,
    dir: tempfile::TempDir,
    url: String,
}

/// A daemon this tool started never outlives it, whatever path the run takes.
impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.mode == Mode::File && args.target.is_some() {
        bail!("--mode file starts its own daemon: it cannot target a running one");
    }
    let dir = tempfile::tempdir()?;
    let mut generator = records::Generator::with_shape(args.seed, args.record_size, args.records);
    let (bodies, sample, log_lines) = match args.mode {
        Mode::File => {
            let (lines, sample) =
                write_log(&mut generator, &dir.path().join("logs"), args.file_mb)?;
            (Vec::new(), sample, lines)
        }
        Mode::Firehose | Mode::Ndjson => {
            let lines = generator.take_lines(args.bodies * args.batch * args.sub_records);
            (build_bodies(&args, &lines), lines.concat().into_bytes(), 0)
        }
    };
    let line_bytes = sample.len() as f64 / sample.iter().filter(|&&b| b == b'\n').count() as f64;
    let yard = yardstick::measure(&sample)?;
    eprintln!(
        "records: {line_bytes:.0} B on average; {} connections, {} s, mode {:?}, spool {}",
        args.connections, args.duration, args.mode, args.durability
    );
    println!(
        "zlib-6 yardstick      {:.1} MB/s on one core, ratio {:.3}x (zlib {}, {:.0} MB of these records)",
        yard.mb_per_s,
        yard.ratio,
        yard.zlib_version,
        sample.len() as f64 / 1e6
    );
    drop(sample);

    let spawned = match &args.target {
        Some(_) => None,
        None => Some(spawn_daemon(&args, dir).await?),
    };
    let url = args
        .target
        .clone()
        .or_else(|| spawned.as_ref().map(|s| s.url.clone()))
        .unwrap_or_default();
    let pid = spawned.as_ref().map(|s| s.child.id());
    let cpu_before = pid.and_then(cpu_seconds);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.connections)
        .build_http::<Full<Bytes>>();
    let started = Instant::now();
    let acked_records = match args.mode {
        Mode::File => wait_ingested(&client, &url, &args.stream, log_lines).await?,
        Mode::Firehose | Mode::Ndjson => drive(&args, &client, &url, bodies).await?,
    };

    if let Some(mut s) = spawned {
        let pid = s.child.id();
        let mut peak_rss_kb = peak_rss_kb(pid).unwrap_or(0);
        let mut cpu_after = cpu_seconds(pid);
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let exit = loop {
            if let Some(status) = s.child.try_wait()? {
                break status;
            }
            peak_rss_kb = peak_rss_kb.max(peak_rss_kb_opt(pid));
            cpu_after = cpu_seconds(pid).or(cpu_after);
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let total_secs = started.elapsed().as_secs_f64();
        if !exit.success() {
            bail!("daemon exited with {exit}");
        }
        let counting = match args.format {
            Some(_) => "parquet",
            None => args.compression.as_str(),
        };
        let landed = match (&args.s3_endpoint, &args.s3_bucket) {
            (Some(endpoint), Some(bucket)) => {
                let counted = landed::count_s3(endpoint, bucket, counting).await?;
                println!(
                    "objects               {} ({:.1} MB stored, {} multipart), about {} S3 requests",
                    counted.objects,
                    counted.bytes as f64 / 1e6,
                    counted.multipart,
                    counted.requests
                );
                counted.records
            }
            _ => landed::count_local(&s.dir.path().join("out"), counting)?,
        };
        if args.iceberg {
            let (files, commits) = landed::iceberg_files(&s.dir.path().join("out"))?;
            println!("iceberg data files    {files}, commits {commits}");
        }
        let cpu = cpu_after.zip(cpu_before).map_or(0.0, |(a, b)| a - b);
        let landed_mb_per_s = landed as f64 * line_bytes / total_secs / 1e6;
        println!("records landed        {landed} of {acked_records} acked");
        println!(
            "records landed/s      {:.0} (until the daemon exited after its flush: {total_secs:.1} s)",
            landed as f64 / total_secs
        );
        println!(
            "MB/s landed           {landed_mb_per_s:.1} = {:.2}x the zlib-6 yardstick",
            landed_mb_per_s / yard.mb_per_s
        );
        println!(
            "daemon CPU            {cpu:.1} s = {:.2} cores over the run",
            cpu / total_secs
        );
        println!(
            "daemon peak RSS       {:.1} MB",
            peak_rss_kb as f64 / 1024.0
        );
        if landed != acked_records {
            bail!("landed {landed} records but {acked_records} were acknowledged");
        }
    }
    Ok(())
}

/// Sends the bodies over `--connections` keep-alive connections for `--duration`
/// seconds (at `--rate` requests/s if set), prints what was acknowledged and how
/// fast, and returns the records acknowledged.
async fn drive(
    args: &Args,
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
    bodies: Vec<Bytes>,
) -> anyhow::Result<u64> {
    let uri: hyper::Uri = match args.mode {
        Mode::Ndjson => format!("{url}/delivery-streams/{}/records", args.stream),
        Mode::Firehose | Mode::File => format!("{url}/"),
    }
    .parse()?;
    // Each connection sends on its own schedule, so the rate holds however long
    // a request takes (up to the connections' capacity).
    let gap = (args.rate > 0)
        .then(|| Duration::from_secs_f64(args.connections as f64 / args.rate as f64));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let numbering = match (&args.numbered_log, args.mode) {
        (None, _) => None,
        (Some(_), Mode::Ndjson) => Some(Arc::new((
            numbered::Numbering::new(args.tenants),
            numbered::Numbering::templates(&bodies),
        ))),
        (Some(_), mode) => bail!("--numbered-log numbers NDJSON records, not {mode:?}"),
    };
    let bodies = Arc::new(bodies);
    let mut tasks = Vec::new();
    for conn in 0..args.connections {
        let (client, uri, bodies, mode) = (client.clone(), uri.clone(), bodies.clone(), args.mode);
        let numbering = numbering.clone();
        let batch = args.batch;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut refused: Vec<String> = Vec::new();
            let mut sent_log: Vec<(u64, usize, numbered::Outcome)> = Vec::new();
            let mut i = conn;
            let mut next = started + gap.map_or(Duration::ZERO, |g| g.mul_f64(conn as f64 / 16.0));
            while Instant::now() < deadline {
                if let Some(gap) = gap {
                    tokio::time::sleep_until(next.into()).await;
                    next += gap;
                }
                let (body, first) = match &numbering {
                    Some(n) => {
                        let (body, first) = n.0.number(&n.1[i % n.1.len()]);
                        (body, Some(first))
                    }
                    None => (bodies[i % bodies.len()].clone(), None),
                };
                i += 1;
                let mut log = |outcome| {
                    if let Some(first) = first {
                        sent_log.push((first, batch, outcome));
                    }
                };
                let mut req = hyper::Request::post(uri.clone());
                if mode == Mode::Firehose {
                    req = req
                        .header("X-Amz-Target", "Firehose_20150804.PutRecordBatch")
                        .header("Content-Type", "application/x-amz-json-1.1");
                }
                let Ok(req) = req.body(Full::new(body)) else {
                    break;
                };
                let sent = Instant::now();
                let resp = match client.request(req).await {
                    Ok(resp) => resp,
                    Err(e) => {
                        log(numbered::Outcome::Unknown);
                        refused.push(format!("connection: {e}"));
                        // A daemon being restarted: do not spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let status = resp.status();
                let body = resp.into_body().collect().await.map(|b| b.to_bytes());
                if status.is_success() && body.is_ok() {
                    log(numbered::Outcome::Acked);
                    latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                } else if body.is_err() {
                    log(numbered::Outcome::Unknown);
                    refused.push(format!("{status} with its body cut off"));
                } else {
                    log(numbered::Outcome::Refused);
                    let body = body.map(|b| String::from_utf8_lossy(&b).into_owned());
                    refused.push(format!("{status}: {}", body.unwrap_or_default()));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            (latencies, refused, sent_log)
        }));
    }
    let mut latencies = Vec::new();
    let mut refused: std::collections::BTreeMap<String, usize> = Default::default();
    let mut sent_log = Vec::new();
    for t in tasks {
        let (l, r, s) = t.await?;
        latencies.extend(l);
        sent_log.extend(s);
        for reason in r {
            *refused.entry(reason).or_default() += 1;
        }
    }
    if let Some(path) = &args.numbered_log {
        numbered::write_log(path, &sent_log)?;
    }
    let load_secs = started.elapsed().as_secs_f64();
    let acked_records = (latencies.len() * args.batch * args.sub_records) as u64;
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |&us| f64::from(us) / 1000.0)
    };
    println!(
        "requests acked        {} ({} refused or failed), {:.0}/s",
        latencies.len(),
        refused.values().sum::<usize>(),
        latencies.len() as f64 / load_secs
    );
    for (reason, n) in &refused {
        println!("  refused {n} x {reason}");
    }
    println!(
        "records acked/s       {:.0}",
        acked_records as f64 / load_secs
    );
    println!(
        "ack latency ms        p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    Ok(acked_records)
}

/// Writes log lines into `logs/app.log` while they fit in `megabytes` MiB, and
/// returns how many, with the first 32 MiB of them (the yardstick's sample).
fn write_log(
    generator: &mut records::Generator,
    logs: &std::path::Path,
    megabytes: usize,
) -> anyhow::Result<(u64, Vec<u8>)> {
    use std::io::Write;
    std::fs::create_dir_all(logs)?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(logs.join("app.log"))?);
    let (mut room, mut lines) = (megabytes * 1024 * 1024, 0u64);
    let mut sample = Vec::new();
    'fill: loop {
        for line in generator.take_lines(1000) {
            if line.len() > room {
                break 'fill;
            }
            file.write_all(line.as_bytes())?;
            if sample.len() < 32 * 1024 * 1024 {
                sample.extend_from_slice(line.as_bytes());
            }
            room -= line.len();
            lines += 1;
        }
    }
    file.flush()?;
    Ok((lines, sample))
}

/// Waits until the daemon has taken in `lines` records of the log (what a file source
/// has spooled it counts as incoming), and returns that count.
async fn wait_ingested(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
    stream: &str,
    lines: u64,
) -> anyhow::Result<u64> {
    let uri: hyper::Uri = format!("{url}/metrics").parse()?;
    let series = format!("sluice_incoming_records_total{{stream=\"{stream}\"}}");
    let (mut seen, mut progressed) = (0u64, Instant::now());
    loop {
        let req = hyper::Request::get(uri.clone()).body(Full::new(Bytes::new()))?;
        if let Ok(resp) = client.request(req).await {
            let body = resp.into_body().collect().await?.to_bytes();
            let text = String::from_utf8_lossy(&body);
            let count = text
                .lines()
                .find_map(|l| l.strip_prefix(series.as_str()))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0) as u64;
            if count != seen {
                (seen, progressed) = (count, Instant::now());
            }
        }
        if seen >= lines {
            return Ok(seen);
        }
        if progressed.elapsed() > Duration::from_secs(60) {
            bail!("the file source took in {seen} of {lines} lines and made no progress for 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn build_bodies(args: &Args, lines: &[String]) -> Vec<Bytes> {
    use base64::Engine;
    lines
        .chunks(args.batch * args.sub_records)
        .map(|request| {
            let records: Vec<String> = request
                .chunks(args.sub_records.max(1))
                .map(|sub| sub.concat())
                .collect();
            match args.mode {
                Mode::Ndjson | Mode::File => Bytes::from(records.concat()),
                Mode::Firehose => {
                    let mut body =
                        format!("{{\"DeliveryStreamName\":\"{}\",\"Records\":[", args.stream);
                    for (i, record) in records.iter().enumerate() {
                        if i > 0 {
                            body.push(',');
                        }
                        body.push_str("{\"Data\":\"");
                        body.push_str(&base64::engine::general_purpose::STANDARD.encode(record));
                        body.push_str("\"}");
                    }
                    body.push_str("]}");
                    Bytes::from(body)
                }
            }
        })
        .collect()
}

async fn spawn_daemon(args: &Args, dir: tempfile::TempDir) -> anyhow::Result<Spawned> {
    let binary = match &args.sluice {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("sluice"),
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let level = args
        .compression_level
        .map(|l| format!("compression_level = {l}\n"))
        .unwrap_or_default();
    let processors = args
        .processors
        .as_ref()
        .map(|p| format!("processors = {p}\n"))
        .into_iter()
        .chain(
            args.processing_threads
                .map(|n| format!("processing_threads = {n}\n")),
        )
        .chain(
            args.format
                .as_ref()
                .filter(|_| !args.iceberg)
                .map(|f| format!("format = {f}\n")),
        )
        .chain(
            args.max_in_flight_objects
                .map(|n| format!("max_in_flight_objects = {n}\n")),
        )
        .collect::<String>();
    let prefix = args
        .prefix
        .as_ref()
        .map(|p| format!(", prefix = \"{p}\", error_output_prefix = \"errors/!{{firehose:error-output-type}}/\""))
        .unwrap_or_default();
    let source = match args.mode {
        Mode::File => format!(
            "source = {{ type = \"file\", paths = [\"{}/logs/*.log\"], start_at = \"beginning\" }}\n",
            dir.path().display()
        ),
        Mode::Firehose | Mode::Ndjson => String::new(),
    };
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[spool]\ndir = \"{dir}/spool\"\n\
         durability = \"{durability}\"\n\
         [[delivery_streams]]\nname = \"{stream}\"\n{source}compression = \"{c}\"\n{level}{processors}\
         buffering = {{ size_mb = {size}, interval_seconds = {interval} }}\n\
         destination = {destination}\n",
        dir = dir.path().display(),
        stream = args.stream,
        c = args.compression,
        size = args.size_mb,
        interval = args.interval_seconds,
        durability = args.durability,
        destination = match (&args.s3_endpoint, &args.s3_bucket) {
            _ if args.iceberg => format!(
                "{{ type = \"iceberg\", catalog = {{ type = \"sql\", uri = \"sqlite://{dir}/catalog.db\", name = \"bench\" }}, \
                 warehouse = \"{dir}/out\", namespace = \"bench\", table = \"records\", \
                 create_table = {{ columns = {columns} }} }}",
                dir = dir.path().display(),
                columns = columns_of(args.format.as_deref().unwrap_or_default())?,
            ),
            (Some(endpoint), Some(bucket)) => format!(
                "{{ type = \"s3\", bucket = \"{bucket}\", endpoint = \"{endpoint}\"{prefix} }}"
            ),
            _ => format!(
                "{{ type = \"local\", path = \"{}/out\"{prefix} }}",
                dir.path().display()
            ),
        },
    );
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, config)?;
    let child = Command::new(&binary)
        .args(["run", "--config"])
        .arg(&path)
        .env("SLUICE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(Spawned { child, dir, url });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("daemon did not start listening on port {port}")
}

/// The `columns = [...]` array of a `--format` TOML table, for an Iceberg
/// table's `create_table`.
fn columns_of(format: &str) -> anyhow::Result<&str> {
    let start = format
        .find("columns")
        .and_then(|at| format[at..].find('[').map(|b| at + b))
        .context("--format has no `columns = [...]`")?;
    let mut depth = 0usize;
    for (i, c) in format[start..].char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(&format[start..=start + i]);
                }
            }
            _ => {}
        }
    }
    bail!("--format's `columns` array is not closed")
}

/// User + system CPU seconds of `pid`, from /proc (clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn peak_rss_kb_opt(pid: u32) -> u64 {
    peak_rss_kb(pid).unwrap_or(0)
}
