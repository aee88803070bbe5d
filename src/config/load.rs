//! Reading the configuration: file (or the embedded default), then environment.

use std::path::Path;

use config::{Environment, File, FileFormat};

use super::{Config, ConfigError, ConfigErrors, validate};

/// The built-in default, identical to `config/sluice.toml`.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/sluice.toml");

/// Loads and validates the configuration. With no path, the embedded default is
/// used. `SLUICE__SECTION__KEY=value` overrides a key (`SLUICE__SERVER__LISTEN`).
pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
    let one = |key: &str, msg: String| ConfigErrors(vec![ConfigError::new(key, msg)]);
    let mut builder = config::Config::builder();
    builder = match path {
        Some(p) => {
            let format = match p.extension().and_then(|e| e.to_str()) {
                Some("toml") => FileFormat::Toml,
                Some("yaml" | "yml") => FileFormat::Yaml,
                _ => {
                    return Err(one(
                        "(file)",
                        format!(
                            "{}: the file name must end in .toml, .yaml or .yml",
                            p.display()
                        ),
                    ));
                }
            };
            let text = std::fs::read_to_string(p)
                .map_err(|e| one("(file)", format!("cannot read {}: {e}", p.display())))?;
            builder.add_source(File::from_str(&text, format))
        }
        None => builder.add_source(File::from_str(DEFAULT_CONFIG, FileFormat::Toml)),
    };
    builder = builder.add_source(
        Environment::with_prefix("SLUICE")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true),
    );
    let raw = builder.build().map_err(|e| one("(file)", e.to_string()))?;
    let written: serde_json::Value = raw
        .clone()
        .try_deserialize()
        .map_err(|e| one("(file)", e.to_string()))?;
    let mut config: Config = serde_path_to_error::deserialize(raw).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." {
            "(top level)".to_string()
        } else {
            key
        };
        one(&key, e.into_inner().to_string())
    })?;
    if let Some(streams) = written["delivery_streams"].as_array() {
        for (stream, written) in config.delivery_streams.iter_mut().zip(streams) {
            stream.written = written.clone();
        }
    }
    config.written = written;
    validate::validate(&config)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_stream_lists_are_summarised() {
        let mut c = load(None).unwrap();
        let one = c.delivery_streams[0].clone();
        c.delivery_streams = (0..5_000)
            .map(|i| {
                let mut s = one.clone();
                s.name = format!("s{i}");
                s
            })
            .collect();
        assert_eq!(
            c.stream_names(),
            "s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 and 4990 more"
        );
        c.delivery_streams.truncate(2);
        assert_eq!(c.stream_names(), "s0, s1");
    }

    fn load_str(text: &str) -> Result<Config, ConfigErrors> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        load(Some(&path))
    }

    #[test]
    fn embedded_default_is_valid() {
        let c = load(None).unwrap();
        assert_eq!(c.delivery_streams.len(), 1);
        assert_eq!(c.delivery_streams[0].name, "default");
        assert_eq!(c.server.listen.port(), 4573);
    }

    #[test]
    fn unknown_key_is_named_with_its_path() {
        let err = load_str(
            "[[delivery_streams]]\nname='a'\nbuffering={sise_mb=3}\n\
             destination={type='local', path='/tmp/x'}\n",
        )
        .unwrap_err();
        let e = &err.0[0];
        assert_eq!(e.key, "delivery_streams[0].buffering.sise_mb");
        assert!(e.message.contains("unknown field `sise_mb`"), "{e}");
    }

    #[test]
    fn unknown_destination_type_lists_accepted_ones() {
        let err =
            load_str("[[delivery_streams]]\nname='a'\ndestination={type='ftp'}\n").unwrap_err();
        assert_eq!(err.0[0].key, "delivery_streams[0].destination.type");
        assert!(err.0[0].message.contains("`local`"), "{}", err.0[0]);
    }
}
