//! SeaweedFS, the real S3-compatible server the S3 and Iceberg tests write to.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::*;

/// Credentials of the S3 test server: an admin (creates buckets) and the identity
/// Sluice uses, which may read and write but not create buckets.
pub const S3_ADMIN: (&str, &str) = ("AKADMIN", "admin-secret");
pub const S3_USER: (&str, &str) = ("AKSLUICE", "sluice-secret");
pub const BUCKET: &str = "test-bucket";

/// A real SeaweedFS server (master, volume, filer and S3 gateway in one process) on
/// loopback, with the bucket `test-bucket`. Stopped when dropped.
pub struct Seaweed {
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

/// One server starting at a time (ports picked and the process up): several
/// starting at once on two cores time out. Once up, servers run side by side.
fn starting() -> std::sync::MutexGuard<'static, ()> {
    static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    STARTING.lock().unwrap_or_else(|e| e.into_inner())
}

impl Seaweed {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let identities = serde_json::json!({ "identities": [
            { "name": "admin", "credentials": [{ "accessKey": S3_ADMIN.0, "secretKey": S3_ADMIN.1 }],
              "actions": ["Admin", "Read", "Write", "List", "Tagging"] },
            { "name": "sluice", "credentials": [{ "accessKey": S3_USER.0, "secretKey": S3_USER.1 }],
              "actions": ["Read", "Write", "List", "Tagging"] },
        ]});
        std::fs::write(dir.path().join("s3.json"), identities.to_string()).expect("s3.json");
        let starting = starting();
        let ports = [0; 4].map(|_| free_low_port());
        let mut s = Self {
            child: None,
            endpoint: format!("http://127.0.0.1:{}", ports[3]),
            dir,
            ports,
        };
        s.spawn_and_wait();
        drop(starting);
        s.admin(&["create-bucket", BUCKET]);
        s
    }

    /// Starts the server process (again, after `kill`), on the same data and ports.
    pub fn run(&mut self) {
        let _starting = starting();
        self.spawn_and_wait();
    }

    fn spawn_and_wait(&mut self) {
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
        let addr = SocketAddr::from(([127, 0, 0, 1], s3));
        eventually(
            Duration::from_secs(120),
            || format!("SeaweedFS to answer on {addr}:\n{}", self.log()),
            || http(addr, "GET", "/", &[], b"").ok(),
        );
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
        let under = || -> Vec<S3Object> {
            self.objects(bucket)
                .into_iter()
                .filter(|o| o.key.starts_with(prefix))
                .collect()
        };
        eventually(
            Duration::from_secs(60),
            || {
                format!(
                    "{n} objects under {prefix}, found {}:\n{}",
                    under().len(),
                    daemon.log()
                )
            },
            || Some(under()).filter(|found| found.len() >= n),
        )
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
