//! kinesis-local, the real Kinesis-compatible server the Kinesis source reads.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::*;

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
        eventually(
            Duration::from_secs(30),
            || {
                let log = std::fs::read_to_string(&server.log).unwrap_or_default();
                format!("kinesis-local to listen on port {plain}:\n{log}")
            },
            || TcpStream::connect(("127.0.0.1", plain)).ok(),
        );
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
