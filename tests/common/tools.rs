//! The test tools (`tests/setup/install.sh`) and the built plugins, and running
//! the Python helpers in `tests/py/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// A built plugin's path: `name.wasm` in [`plugins`].
pub fn plugin(name: &str) -> String {
    plugins().join(format!("{name}.wasm")).display().to_string()
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
