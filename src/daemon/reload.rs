//! What a reload (SIGHUP) changes: the new file is loaded and checked as `sluice
//! check` would, then compared with the running configuration stream by stream.
//! A stream is changed when its settings as written differ, or when a plugin it
//! runs is a different file now (a rebuilt `.wasm` at the same path).

use std::collections::{BTreeMap, BTreeSet};

use sha2::Digest as _;

use crate::config::{Config, ProcessorConfig, StreamConfig};

/// What the new configuration changes in the running one.
#[derive(Debug, Default)]
pub struct Plan {
    pub added: Vec<StreamConfig>,
    pub removed: Vec<String>,
    pub changed: Vec<StreamConfig>,
    /// Settings a reload does not apply, by key: they take effect at the next start.
    pub needs_restart: Vec<String>,
}

impl Plan {
    /// Compares `new` with `running`, whose streams run the plugins digested in
    /// `plugins` (by stream name, see [`plugin_digest`]). Refuses a change to a
    /// stream that reads standard input, which cannot be read again.
    pub fn new(
        running: &Config,
        plugins: &BTreeMap<String, String>,
        new: &Config,
    ) -> Result<Self, String> {
        let old: BTreeMap<&str, &StreamConfig> = running
            .delivery_streams
            .iter()
            .map(|s| (s.name.as_str(), s))
            .collect();
        let mut plan = Plan::default();
        for stream in &new.delivery_streams {
            match old.get(stream.name.as_str()) {
                None => plan.added.push(stream.clone()),
                Some(was)
                    if was.written != stream.written
                        || plugins.get(&stream.name) != Some(&plugin_digest(stream)) =>
                {
                    plan.changed.push(stream.clone())
                }
                Some(_) => {}
            }
        }
        let kept: BTreeSet<&str> = new
            .delivery_streams
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        plan.removed = old
            .keys()
            .filter(|name| !kept.contains(*name))
            .map(|name| name.to_string())
            .collect();
        let stdin = |s: &StreamConfig| s.source.kind().reads_stdin();
        let touched = plan
            .added
            .iter()
            .chain(&plan.changed)
            .filter(|s| stdin(s))
            .map(|s| s.name.as_str())
            .chain(
                plan.removed
                    .iter()
                    .filter(|name| old.get(name.as_str()).is_some_and(|s| stdin(s)))
                    .map(String::as_str),
            )
            .next();
        if let Some(name) = touched {
            return Err(format!(
                "stream `{name}` reads standard input, which cannot be reopened: adding, removing or changing it needs a restart"
            ));
        }
        plan.needs_restart = unapplied(&running.written, &new.written);
        Ok(plan)
    }

    /// Whether the streams stay as they are.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The keys outside `delivery_streams` and `server.auth` whose values differ:
/// the listener and the spools are not rebuilt by a reload.
fn unapplied(running: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let mut keys = Vec::new();
    for section in ["server", "spool"] {
        let (old, new) = (&running[section], &new[section]);
        let names: BTreeSet<&String> = [old, new]
            .iter()
            .filter_map(|v| v.as_object())
            .flat_map(|m| m.keys())
            .filter(|k| !(section == "server" && *k == "auth"))
            .collect();
        for name in names {
            if old.get(name) != new.get(name) {
                keys.push(format!("{section}.{name}"));
            }
        }
    }
    keys
}

/// A digest of the plugin files `stream` runs, as they are on disk now (a file
/// that cannot be read digests as such; loading it then says why).
pub fn plugin_digest(stream: &StreamConfig) -> String {
    let mut digest = sha2::Sha256::new();
    for processor in &stream.processors {
        if let ProcessorConfig::Wasm(wasm) = processor {
            match std::fs::read(&wasm.module) {
                Ok(bytes) => digest.update(sha2::Sha256::digest(&bytes)),
                Err(e) => digest.update(format!("unreadable: {e}")),
            }
        }
    }
    hex::encode(digest.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Config {
        let file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        std::fs::write(file.path(), text).unwrap();
        crate::config::load(Some(file.path())).unwrap()
    }

    fn stream(name: &str, path: &str) -> String {
        format!(
            "[[delivery_streams]]\nname = \"{name}\"\ndestination = {{ type = \"local\", path = \"{path}\" }}\n"
        )
    }

    fn digests(config: &Config) -> BTreeMap<String, String> {
        config
            .delivery_streams
            .iter()
            .map(|s| (s.name.clone(), plugin_digest(s)))
            .collect()
    }

    #[test]
    fn streams_are_added_removed_changed_or_left_alone() {
        let running =
            load(&(stream("a", "/tmp/a") + &stream("b", "/tmp/b") + &stream("c", "/tmp/c")));
        let new = load(&format!(
            "[server]\nlisten = \"127.0.0.1:9999\"\n{}{}{}",
            stream("a", "/tmp/a"),
            stream("b", "/tmp/b2"),
            stream("d", "/tmp/d")
        ));
        let plan = Plan::new(&running, &digests(&running), &new).unwrap();
        let names = |s: &[StreamConfig]| s.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&plan.added), ["d"]);
        assert_eq!(names(&plan.changed), ["b"]);
        assert_eq!(plan.removed, ["c"]);
        assert_eq!(plan.needs_restart, ["server.listen"]);
        assert!(
            Plan::new(&running, &digests(&running), &running)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_rebuilt_plugin_changes_its_stream_and_stdin_streams_need_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("p.wasm");
        std::fs::write(&module, b"first build").unwrap();
        let text = format!(
            "{}processors = [{{ type = \"wasm\", module = \"{}\" }}]\n",
            stream("a", "/tmp/a"),
            module.display()
        );
        let running = load(&text);
        let plugins = digests(&running);
        assert!(
            Plan::new(&running, &plugins, &load(&text))
                .unwrap()
                .is_empty()
        );
        std::fs::write(&module, b"second build").unwrap();
        let plan = Plan::new(&running, &plugins, &load(&text)).unwrap();
        assert_eq!(plan.changed.len(), 1);

        let with_stdin = load(&format!(
            "{}[[delivery_streams]]\nname = \"in\"\nsource = {{ type = \"stdin\" }}\n\
             destination = {{ type = \"local\", path = \"/tmp/in\" }}\n",
            stream("a", "/tmp/a")
        ));
        let err = Plan::new(&running, &plugins, &with_stdin).unwrap_err();
        assert!(err.contains("`in` reads standard input"), "{err}");
    }
}
