//! The `sluice` binary under test: a daemon started on loopback on a free port
//! (stopped when dropped), the command line, signals, `/metrics` and memory.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::*;

/// A running daemon, stopped (SIGKILL) when dropped if the test did not stop it.
pub struct Daemon {
    child: Option<Child>,
    /// The write end of the daemon's standard input, for a stdin source.
    stdin: Mutex<Option<ChildStdin>>,
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
        for _ in 0..3 {
            match daemon.wait_healthy() {
                Ok(()) => return daemon,
                // Another process took the free port between its choice and
                // the daemon's bind: the same folder on another port.
                Err(exit) if exit.contains("Address already in use") => {
                    daemon = Self::spawn(daemon.into_dir(), config, env, wrapper);
                }
                Err(exit) => panic!("{exit}"),
            }
        }
        panic!("no free port held long enough for the daemon to bind it")
    }

    /// Starts the daemon and returns once it answers `/health`, before its
    /// streams are all running.
    pub fn start_listening(dir: tempfile::TempDir, config: &str) -> Self {
        let daemon = Self::spawn(dir, config, &[], &[]);
        eventually(
            Duration::from_secs(30),
            || format!("/health:\n{}", daemon.log()),
            || daemon.answers("/health").then_some(()),
        );
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
        let mut child = command
            .args(["run", "--config"])
            .arg(&path)
            .current_dir(dir.path())
            .env("SLUICE_LOG", "info,sluice=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn sluice");
        let stdin = Mutex::new(child.stdin.take());
        Self {
            child: Some(child),
            stdin,
            addr,
            dir,
            tls: config.contains("[server.tls]"),
        }
    }

    /// Waits for `/ready`; the exit status and log if the daemon exits first.
    fn wait_healthy(&mut self) -> Result<(), String> {
        // The daemon listens at once, but streams with plugins compile them before
        // `/ready` (seconds for a JavaScript or Python runtime, more while other
        // tests compete for CPU).
        // 300 s: fourteen plugin tests compiling JavaScript and Python runtimes at
        // once on two cores took one daemon past 120 s.
        let (addr, tls, log) = (self.addr, self.tls, self.log_path());
        let mut child = self.child.as_mut();
        eventually(
            Duration::from_secs(300),
            || format!("sluice to be ready:\n{}", read_log(&log)),
            || {
                if let Some(status) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    return Some(Err(format!(
                        "sluice exited during start-up ({status}):\n{}",
                        read_log(&log)
                    )));
                }
                answers(addr, tls, "/ready").then_some(Ok(()))
            },
        )
    }

    /// Whether `path` answers 200 (over TLS without checking the certificate,
    /// which the tests check with their clients).
    pub fn answers(&self, path: &str) -> bool {
        answers(self.addr, self.tls, path)
    }

    pub fn url(&self) -> String {
        url(self.addr, self.tls)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn log(&self) -> String {
        read_log(&self.log_path())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("sluice.log")
    }

    /// Takes the write end of the daemon's standard input (once); dropping it
    /// ends the input.
    pub fn take_stdin(&self) -> ChildStdin {
        self.stdin
            .lock()
            .expect("stdin lock")
            .take()
            .expect("the daemon's stdin was taken already")
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
        poll_until(Duration::from_secs(60), || child.try_wait().expect("wait")).unwrap_or_else(
            || {
                let _ = child.kill();
                panic!(
                    "sluice did not exit within 60 s of the signal:\n{}",
                    self.log()
                )
            },
        )
    }

    /// Waits until the log contains `text` (30 s at most), or panics with the log.
    pub fn wait_for_log(&self, text: &str) {
        eventually(
            Duration::from_secs(30),
            || format!("`{text}` in the log:\n{}", self.log()),
            || self.log().contains(text).then_some(()),
        );
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

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Whether `path` answers 200 at `addr` (over TLS without checking the
/// certificate, which the tests check with their clients).
fn answers(addr: SocketAddr, tls: bool, path: &str) -> bool {
    if !tls {
        return http(addr, "GET", path, &[], b"").is_ok_and(|r| r.status == 200);
    }
    Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}{path}", url(addr, tls)))
        .output()
        .is_ok_and(|o| o.stdout == b"200")
}

fn url(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{addr}")
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

/// Runs the `sluice` command with `args` in `dir`.
pub fn sluice(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run sluice")
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
