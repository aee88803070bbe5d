//! Daemon configurations for tests, built as TOML documents instead of
//! formatted text: [`Conf`] is the file, [`Stream`] one delivery stream.
//! `{listen}` and `{dir}` in values are filled in by `Daemon` (the address and
//! the daemon's folder). Tables are written with `toml::toml!`.

use std::fmt;

use toml::Value;
pub use toml::{Table, toml};

/// A config file: `[server]` listening on `{listen}`, and its streams.
#[derive(Clone)]
pub struct Conf(Table);

impl Conf {
    pub fn new() -> Self {
        Self(Table::new()).set("server.listen", "{listen}")
    }

    /// Sets `key`, a dotted path (`server.shutdown_timeout_seconds`,
    /// `spool.max_size_mb`), making the tables on the way.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        set(&mut self.0, key, value.into());
        self
    }

    /// Sets every key of `table` under `key` (`server`, `spool`).
    pub fn merge(mut self, key: &str, table: Table) -> Self {
        for (k, v) in table {
            set(&mut self.0, &format!("{key}.{k}"), v);
        }
        self
    }

    /// Appends `table` to the array of tables at `key` (`server.auth.keys`).
    pub fn push(mut self, key: &str, table: Table) -> Self {
        push(&mut self.0, key, table);
        self
    }

    pub fn stream(self, stream: Stream) -> Self {
        self.push("delivery_streams", stream.0)
    }

    /// The file's text, for `Daemon::start`.
    pub fn text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Conf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = toml::to_string(&self.0).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// One delivery stream; by default it reads direct puts and writes into the
/// local folder `{dir}/out`.
#[derive(Clone)]
pub struct Stream(Table);

impl Stream {
    pub fn new(name: &str) -> Self {
        let mut table = Table::new();
        table.insert("name".into(), name.into());
        Self(table).destination(toml! { type = "local"  path = "{dir}/out" })
    }

    /// Sets `key`, a dotted path under the stream (`buffering.size_mb`,
    /// `destination.error_output_prefix`).
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        set(&mut self.0, key, value.into());
        self
    }

    /// Sets every key of `table` under `key` (`destination`, `source`), keeping
    /// the others.
    pub fn merge(mut self, key: &str, table: Table) -> Self {
        for (k, v) in table {
            set(&mut self.0, &format!("{key}.{k}"), v);
        }
        self
    }

    /// Buffers of `size_mb` delivered after `interval_seconds`.
    pub fn buffering(self, size_mb: i64, interval_seconds: i64) -> Self {
        self.set("buffering.size_mb", size_mb)
            .set("buffering.interval_seconds", interval_seconds)
    }

    /// Buffers delivered as soon as possible (1 MiB, 0 s), as most tests want.
    pub fn at_once(self) -> Self {
        self.buffering(1, 0)
    }

    pub fn source(self, table: Table) -> Self {
        self.set("source", table)
    }

    pub fn destination(self, table: Table) -> Self {
        self.set("destination", table)
    }

    /// Error records under `errors/<error-output-type>/` of the destination.
    pub fn errors_by_type(self) -> Self {
        self.set(
            "destination.error_output_prefix",
            "errors/!{firehose:error-output-type}/",
        )
    }

    /// Appends a processor.
    pub fn processor(mut self, table: Table) -> Self {
        push(&mut self.0, "processors", table);
        self
    }
}

/// A table of `pairs`, for values that come from variables (`toml!` takes
/// literals only).
pub fn table<const N: usize>(pairs: [(&str, Value); N]) -> Table {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn set(table: &mut Table, key: &str, value: Value) {
    let (path, last) = key.rsplit_once('.').map_or(("", key), |(p, l)| (p, l));
    parent(table, path).insert(last.to_string(), value);
}

fn push(table: &mut Table, key: &str, item: Table) {
    let (path, last) = key.rsplit_once('.').map_or(("", key), |(p, l)| (p, l));
    let array = parent(table, path)
        .entry(last.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    match array {
        Value::Array(items) => items.push(Value::Table(item)),
        other => panic!("`{key}` is {other}, not an array"),
    }
}

/// The table at dotted `path` (made if missing).
fn parent<'a>(table: &'a mut Table, path: &str) -> &'a mut Table {
    path.split('.')
        .filter(|p| !p.is_empty())
        .fold(table, |t, part| {
            match t
                .entry(part.to_string())
                .or_insert_with(|| Value::Table(Table::new()))
            {
                Value::Table(inner) => inner,
                other => panic!("`{part}` of `{path}` is {other}, not a table"),
            }
        })
}
