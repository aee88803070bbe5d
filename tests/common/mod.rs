//! Test harness: starts the real `sluice` binary on loopback, talks to it over HTTP,
//! drives real AWS clients (boto3, the AWS CLI) and reads objects back with real
//! decoders. Tools are installed by `tests/setup/install.sh`; if that fails, the test
//! fails and says why.
#![allow(dead_code)]

use base64::Engine as _;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod receiver;

pub const FIREHOSE_TARGET: &str = "Firehose_20150804";

/// A running daemon, stopped (SIGKILL) when dropped if the test did not stop it.
pub struct Daemon {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    /// Whether the listener serves TLS (`[server.tls]` in the config).
    pub tls: bool,
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on loopback")
}

impl Daemon {
    /// Starts `sluice run` on `config`, where `{listen}` and `{dir}` are replaced by a
    /// free loopback address and the daemon's scratch folder. Waits for `/ready`.
    pub fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, config)
    }

    pub fn start_in(dir: tempfile::TempDir, config: &str) -> Self {
        Self::start_in_env(dir, config, &[])
    }

    /// As `start_in`, with environment variables for the daemon.
    pub fn start_in_env(dir: tempfile::TempDir, config: &str, env: &[(&str, &str)]) -> Self {
        Self::start_wrapped(dir, config, env, &[])
    }

    /// As `start_in_env`, with the daemon run by `wrapper` (a command and its
    /// arguments, the daemon's command line after them), as `nsenter` runs it
    /// inside another mount namespace. The wrapper must exec the daemon, so that
    /// signals reach it.
    pub fn start_wrapped(
        dir: tempfile::TempDir,
        config: &str,
        env: &[(&str, &str)],
        wrapper: &[String],
    ) -> Self {
        let mut daemon = Self::spawn(dir, config, env, wrapper);
        daemon.wait_healthy();
        daemon
    }

    /// Starts the daemon and returns once it answers `/health`, before its
    /// streams are all running.
    pub fn start_listening(dir: tempfile::TempDir, config: &str) -> Self {
        let daemon = Self::spawn(dir, config, &[], &[]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !daemon.answers("/health") {
            assert!(
                Instant::now() < deadline,
                "no /health in 30 s:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }

    fn spawn(
        dir: tempfile::TempDir,
        config: &str,
        env: &[(&str, &str)],
        wrapper: &[String],
    ) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let text = config
            .replace("{listen}", &addr.to_string())
            .replace("{dir}", &dir.path().display().to_string());
        let path = dir.path().join("sluice.toml");
        std::fs::write(&path, text).expect("write config");
        let log = std::fs::File::create(dir.path().join("sluice.log")).expect("log file");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_sluice"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_sluice")),
        };
        let child = command
            .args(["run", "--config"])
            .arg(&path)
            .current_dir(dir.path())
            .env("SLUICE_LOG", "info,sluice=debug")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn sluice");
        Self {
            child: Some(child),
            addr,
            dir,
            tls: config.contains("[server.tls]"),
        }
    }

    fn wait_healthy(&mut self) {
        // The daemon listens at once, but streams with plugins compile them before
        // `/ready` (seconds for a JavaScript or Python runtime, more while other
        // tests compete for CPU).
        // 300 s: fourteen plugin tests compiling JavaScript and Python runtimes at
        // once on two cores took one daemon past 120 s.
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("sluice exited during start-up ({status}):\n{}", self.log());
            }
            if self.answers("/ready") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sluice did not become ready in 300 s:\n{}", self.log());
    }

    /// Whether `path` answers 200 (over TLS without checking the certificate,
    /// which the tests check with their clients).
    pub fn answers(&self, path: &str) -> bool {
        if !self.tls {
            return http(self.addr, "GET", path, &[], b"").is_ok_and(|r| r.status == 200);
        }
        Command::new("curl")
            .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("{}{path}", self.url()))
            .output()
            .is_ok_and(|o| o.stdout == b"200")
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sluice.log")).unwrap_or_default()
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon stopped").id()
    }

    /// Sends SIGTERM and waits for the exit (the flush included).
    pub fn stop(&mut self) -> ExitStatus {
        signal(self.pid(), "TERM");
        self.stop_after_signal()
    }

    /// Waits for the exit after the test sent a signal itself.
    pub fn stop_after_signal(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("daemon already stopped");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "sluice did not exit within 60 s of SIGTERM:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the log contains `text` (30 s at most), or panics with the log.
    pub fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no `{text}` in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Takes back the scratch folder (to restart a daemon on the same data).
    pub fn into_dir(mut self) -> tempfile::TempDir {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let placeholder = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, placeholder)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -{sig} {pid} failed");
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 request (one connection, closed after the answer).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// Calls a Firehose operation with a raw JSON body.
pub fn firehose(addr: SocketAddr, op: &str, body: &str) -> Reply {
    try_firehose(addr, op, body).expect("request to sluice")
}

/// As `firehose`, with a connection failure returned rather than panicked on.
pub fn try_firehose(addr: SocketAddr, op: &str, body: &str) -> std::io::Result<Reply> {
    let target = format!("{FIREHOSE_TARGET}.{op}");
    http(
        addr,
        "POST",
        "/",
        &[
            ("X-Amz-Target", &target),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        body.as_bytes(),
    )
}

/// Puts `records` with PutRecordBatch (each base64-encoded); true only if every
/// one was acknowledged (a refused connection is false, not a panic).
pub fn put_batch(addr: SocketAddr, stream: &str, records: &[String]) -> bool {
    let reply = try_firehose(addr, "PutRecordBatch", &batch_body(stream, records));
    matches!(reply, Ok(r) if r.status == 200 && r.json()["FailedPutCount"] == serde_json::json!(0))
}

/// A PutRecordBatch body of `records` (each base64-encoded).
pub fn batch_body(stream: &str, records: &[String]) -> String {
    use base64::Engine;
    let recs: Vec<_> = records
        .iter()
        .map(|r| serde_json::json!({ "Data": base64::engine::general_purpose::STANDARD.encode(r) }))
        .collect();
    serde_json::json!({ "DeliveryStreamName": stream, "Records": recs }).to_string()
}

/// `n` JSON records, one a line: `{"<tag>":<i>}`.
pub fn json_lines(n: usize, tag: &str) -> Vec<String> {
    (0..n).map(|i| format!("{{\"{tag}\":{i}}}\n")).collect()
}

/// Every object under `root`, as (path relative to root, bytes), sorted by path.
/// Files still being written (`object_store` stages them as `<key>#<n>` and renames
/// them when complete) are not objects yet.
pub fn objects(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.to_string_lossy().contains('#') {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Waits until `root` holds at least `n` files, or panics with the daemon's log.
pub fn wait_for_objects(
    daemon: &Daemon,
    root: &Path,
    n: usize,
    timeout: Duration,
) -> Vec<(String, Vec<u8>)> {
    let deadline = Instant::now() + timeout;
    loop {
        let found = objects(root);
        if found.len() >= n {
            return found;
        }
        if Instant::now() > deadline {
            panic!(
                "expected {n} objects under {}, found {}:\n{}",
                root.display(),
                found.len(),
                daemon.log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A built plugin's path: `name.wasm` in [`plugins`].
pub fn plugin(name: &str) -> String {
    plugins().join(format!("{name}.wasm")).display().to_string()
}

/// Runs the `sluice` command with `args` in `dir`.
pub fn sluice(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run sluice")
}

/// The error records under `errors/<type>/`, parsed.
pub fn error_records(daemon: &Daemon, output_type: &str) -> Vec<serde_json::Value> {
    objects(&daemon.path("out"))
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("errors/{output_type}/")))
        .flat_map(|(_, body)| {
            String::from_utf8_lossy(body)
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

pub fn raw(record: &serde_json::Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(record["rawData"].as_str().unwrap())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

/// Waits until `n` error records of `output_type` are written.
pub fn wait_for_errors(daemon: &Daemon, output_type: &str, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = error_records(daemon, output_type);
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} {output_type} records, found {}:\n{}",
            found.len(),
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The error records, keyed by the raw data they hold.
pub fn by_raw(records: &[serde_json::Value]) -> BTreeMap<String, serde_json::Value> {
    records.iter().map(|r| (raw(r), r.clone())).collect()
}

/// The installed test tools (Python venv with boto3, awscli, python-snappy; Java
/// with snappy-java). Installed once per machine by `tests/setup/install.sh`.
pub struct Tools {
    pub venv: PathBuf,
}

/// The folder holding the built plugins: `transforms/examples/<name>` as
/// `<name>.wasm` and `tests/plugins/<name>.c` as `<name>.wasm`. Built once per
/// version of their sources by `tests/setup/build-plugins.sh`.
pub fn plugins() -> &'static Path {
    static PLUGINS: OnceLock<PathBuf> = OnceLock::new();
    PLUGINS.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/setup/build-plugins.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(tools().cache())
            .output()
            .expect("run tests/setup/build-plugins.sh");
        assert!(
            out.status.success(),
            "tests/setup/build-plugins.sh failed, so the plugin tests cannot run:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap_or_default()
                .trim(),
        )
    })
}

pub fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/setup/install.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .expect("run tests/setup/install.sh");
        assert!(
            out.status.success(),
            "tests/setup/install.sh failed, so the tests cannot run:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let venv = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string();
        Tools {
            venv: PathBuf::from(venv),
        }
    })
}

impl Tools {
    /// Where the test tools are installed (`SLUICE_TEST_CACHE`).
    pub fn cache(&self) -> PathBuf {
        self.venv
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    pub fn python(&self) -> PathBuf {
        self.venv.join("bin/python")
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.venv.join("bin").join(name)
    }
}

/// Runs `tests/py/<script>` with the venv's Python and the given arguments.
pub fn py(script: &str, args: &[&str]) -> Output {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(script);
    let out = Command::new(tools().python())
        .arg(path)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{script} {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a tests/py script and parses its stdout as JSON.
pub fn py_json(script: &str, args: &[&str]) -> serde_json::Value {
    let out = py(script, args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A minimal config with one stream; `extra` goes into the stream's table.
pub fn one_stream_config(name: &str, extra: &str) -> String {
    format!(
        "[server]\nlisten = \"{{listen}}\"\n\n[[delivery_streams]]\nname = \"{name}\"\n{extra}\n\
         destination = {{ type = \"local\", path = \"{{dir}}/out\" }}\n"
    )
}

/// The value of one Prometheus sample from `/metrics`, such as
/// `metric(d, "sluice_incoming_records_total{stream=\"s\"}")`; `None` if absent.
pub fn metric(daemon: &Daemon, sample: &str) -> Option<f64> {
    let reply = http(daemon.addr, "GET", "/metrics", &[], b"").expect("GET /metrics");
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    String::from_utf8_lossy(&reply.body)
        .lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|v| v.trim().parse().ok()))
}

/// Credentials of the S3 test server: an admin (creates buckets) and the identity
/// Sluice uses, which may read and write but not create buckets.
pub const S3_ADMIN: (&str, &str) = ("AKADMIN", "admin-secret");
pub const S3_USER: (&str, &str) = ("AKSLUICE", "sluice-secret");
pub const BUCKET: &str = "test-bucket";

/// A real SeaweedFS server (master, volume, filer and S3 gateway in one process) on
/// loopback, with the bucket `test-bucket`. Stopped when dropped.
pub struct Seaweed {
    /// One server at a time: several starting at once on two cores time out.
    _serial: std::sync::MutexGuard<'static, ()>,
    child: Option<Child>,
    dir: tempfile::TempDir,
    ports: [u16; 4],
    pub endpoint: String,
}

/// A free port low enough that SeaweedFS's gRPC port (port + 10000) is valid too.
fn free_low_port() -> u16 {
    loop {
        let p = free_port();
        if p < 55_000 && free_port_is(p + 10_000) {
            return p;
        }
    }
}

fn free_port_is(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

impl Seaweed {
    pub fn start() -> Self {
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().expect("tempdir");
        let identities = serde_json::json!({ "identities": [
            { "name": "admin", "credentials": [{ "accessKey": S3_ADMIN.0, "secretKey": S3_ADMIN.1 }],
              "actions": ["Admin", "Read", "Write", "List", "Tagging"] },
            { "name": "sluice", "credentials": [{ "accessKey": S3_USER.0, "secretKey": S3_USER.1 }],
              "actions": ["Read", "Write", "List", "Tagging"] },
        ]});
        std::fs::write(dir.path().join("s3.json"), identities.to_string()).expect("s3.json");
        let ports = [0; 4].map(|_| free_low_port());
        let mut s = Self {
            _serial: serial,
            child: None,
            endpoint: format!("http://127.0.0.1:{}", ports[3]),
            dir,
            ports,
        };
        s.run();
        s.admin(&["create-bucket", BUCKET]);
        s
    }

    /// Starts the server process (again, after `kill`), on the same data and ports.
    pub fn run(&mut self) {
        let [master, volume, filer, s3] = self.ports;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("weed.log"))
            .expect("weed log");
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).expect("weed data dir");
        let child = Command::new(tools().bin("weed"))
            .arg("server")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-filer.port={filer}"))
            .args(["-s3", "-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-s3.port={s3}"))
            .arg(format!(
                "-s3.config={}",
                self.dir.path().join("s3.json").display()
            ))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start weed (installed by tests/setup/install.sh)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr: SocketAddr = format!("127.0.0.1:{s3}").parse().unwrap();
        while http(addr, "GET", "/", &[], b"").is_err() {
            assert!(
                Instant::now() < deadline,
                "SeaweedFS did not start in 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server at once (an outage).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default()
    }

    /// Runs `tests/py/s3_client.py` as the admin.
    pub fn admin(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec![self.endpoint.as_str(), S3_ADMIN.0, S3_ADMIN.1];
        all.extend_from_slice(args);
        py_json("s3_client.py", &all)
    }

    /// Every object in `bucket`: (key, body, ETag, Content-Encoding).
    pub fn objects(&self, bucket: &str) -> Vec<S3Object> {
        let listed = self.admin(&["objects", bucket]);
        let mut out: Vec<S3Object> = listed
            .as_array()
            .expect("a list of objects")
            .iter()
            .map(|o| S3Object {
                key: o["key"].as_str().unwrap_or_default().to_string(),
                body: base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    o["body"].as_str().unwrap_or_default(),
                )
                .expect("base64 body"),
                etag: o["etag"].as_str().unwrap_or_default().to_string(),
                content_encoding: o["content_encoding"].as_str().map(str::to_string),
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Waits until `bucket` holds at least `n` objects whose key starts with `prefix`.
    pub fn wait_for(&self, bucket: &str, prefix: &str, n: usize, daemon: &Daemon) -> Vec<S3Object> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found: Vec<S3Object> = self
                .objects(bucket)
                .into_iter()
                .filter(|o| o.key.starts_with(prefix))
                .collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} objects under {prefix}, found {}:\n{}",
                found.len(),
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An object read back from S3.
#[derive(Debug, Clone)]
pub struct S3Object {
    pub key: String,
    pub body: Vec<u8>,
    pub etag: String,
    pub content_encoding: Option<String>,
}

/// A real Kinesis-compatible server (kinesis-local, from npm) on loopback. Stopped
/// when dropped.
pub struct KinesisLocal {
    child: Child,
    pub endpoint: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl KinesisLocal {
    pub fn start() -> Self {
        let package = tools()
            .cache()
            .join("kinesis-local/node_modules/kinesis-local");
        let dir = tempfile::tempdir().expect("tempdir");
        let (plain, tls) = (free_port(), free_port());
        let log = dir.path().join("kinesis.log");
        let child = Command::new("node")
            .arg("main.js")
            .current_dir(&package)
            .env("KINESIS_MOCK_PLAIN_PORT", plain.to_string())
            .env("KINESIS_MOCK_TLS_PORT", tls.to_string())
            .env("CREATE_STREAM_DURATION", "100ms")
            .env("UPDATE_SHARD_COUNT_DURATION", "100ms")
            .env("LOG_LEVEL", "WARN")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start kinesis-local with node (installed by tests/setup/install.sh)");
        let server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{plain}"),
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", plain)).is_err() {
            assert!(
                Instant::now() < deadline,
                "kinesis-local did not listen in 30 s:\n{}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Runs `tests/py/kinesis_client.py` against this server.
    pub fn client(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec![self.endpoint.as_str()];
        all.extend_from_slice(args);
        py_json("kinesis_client.py", &all)
    }
}

impl Drop for KinesisLocal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every record delivered to the data prefix (not errors), by line, with counts.
pub fn delivered(root: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (key, body) in objects(root) {
        if key.starts_with("errors/") {
            continue;
        }
        for line in String::from_utf8_lossy(&body).split_inclusive('\n') {
            *out.entry(line.to_string()).or_insert(0) += 1;
        }
    }
    out
}

/// Waits until every one of `expected` is delivered, then checks that each was
/// delivered once and nothing else was.
pub fn assert_delivered_once(daemon: &Daemon, expected: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = delivered(&daemon.path("out"));
        if expected.iter().all(|l| got.contains_key(l)) {
            let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
            assert!(
                twice.is_empty(),
                "{} lines delivered more than once, such as {:?}",
                twice.len(),
                &twice[..twice.len().min(3)]
            );
            let unexpected: Vec<_> = got.keys().filter(|l| !expected.contains(l)).collect();
            assert!(
                unexpected.is_empty(),
                "not written to the files: {unexpected:?}"
            );
            return;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = expected
                .iter()
                .filter(|l| !got.contains_key(*l))
                .take(5)
                .collect();
            panic!(
                "{} of {} lines missing, such as {missing:?}\n{}",
                expected.iter().filter(|l| !got.contains_key(*l)).count(),
                expected.len(),
                daemon.log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The peak resident memory of a process so far (VmHWM), in KiB.
pub fn peak_rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmHWM")
}

/// The peak resident memory of a process so far less the pages of files it
/// maps now (its binary's code, mostly: a debug build's size is not memory the
/// daemon takes for records), in KiB.
pub fn peak_rss_less_files_kb(pid: u32) -> u64 {
    status_kb(pid, "VmHWM").saturating_sub(status_kb(pid, "RssFile"))
}

/// A `kB` field of /proc/PID/status.
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Makes a throwaway CA (`ca.pem`) and a certificate for 127.0.0.1 signed by it
/// (`leaf.pem`, key `leaf.key`) in `dir`.
pub fn make_certificates(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (Debian's openssl package) makes the test certificates");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=sluice test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
}
