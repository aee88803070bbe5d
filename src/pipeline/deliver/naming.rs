//! The keys of a stream's objects: Firehose's layout (prefix, then
//! `<stream>-<version>-<time>-<uuid>` and the extension), rendered at the time
//! of the batch's oldest record in the stream's time zone, for data, backup and
//! error objects alike.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::config::StreamConfig;
use crate::keys::{KeyContext, KeyLayout, PartitionCheck, Prefix, check_key, object_suffix};
use crate::output::Output;
use crate::sinks::objects::PARQUET_EXTENSION;

pub struct Naming {
    stream: String,
    /// The version number in object names (see `pipeline::version`).
    version: u64,
    extension: String,
    backup_extension: String,
    layout: KeyLayout,
    backup: Option<Prefix>,
    /// The time zone of keys (Firehose's `CustomTimeZone`).
    zone: chrono_tz::Tz,
}

impl Naming {
    /// `converts`: whether the stream converts its records to Parquet.
    pub fn new(
        config: &StreamConfig,
        layout: KeyLayout,
        backup: Option<Prefix>,
        converts: bool,
        version: u64,
    ) -> Self {
        let raw_extension = config
            .file_extension
            .clone()
            .unwrap_or_else(|| config.compression.extension().to_string());
        Self {
            stream: config.name.clone(),
            version,
            extension: match converts {
                true => config
                    .file_extension
                    .clone()
                    .unwrap_or_else(|| PARQUET_EXTENSION.to_string()),
                false => raw_extension.clone(),
            },
            // Backups hold the records as received, whatever the format.
            backup_extension: match converts {
                true => config.compression.extension().to_string(),
                false => raw_extension,
            },
            layout,
            backup,
            // Validated at load: an unknown name cannot get here.
            zone: config
                .destination
                .layout()
                .time_zone
                .and_then(|z| z.parse().ok())
                .unwrap_or(chrono_tz::UTC),
        }
    }

    /// The partition keys the prefix uses (`!{partitionKeyFromLambda:name}`) and
    /// the check each record's values pass before it is buffered.
    pub fn partition_check(&self) -> PartitionCheck {
        let suffix = object_suffix(
            &self.stream,
            self.version,
            DateTime::<Utc>::UNIX_EPOCH.fixed_offset(),
            &Uuid::nil(),
            &self.extension,
        );
        self.layout.partition_check(suffix.len())
    }

    /// Whether records also go to a source backup.
    pub fn has_backup(&self) -> bool {
        self.backup.is_some()
    }

    /// The key of a new object, named after its oldest record, under `layout`
    /// (the stream's when `None`). Error objects go under the error prefix and
    /// are not compressed. `partition_keys` fill `!{partitionKeyFromLambda:...}`
    /// in the prefix.
    pub fn key(
        &self,
        layout: Option<&KeyLayout>,
        output: &Output,
        first_arrival_ms: i64,
        partition_keys: &BTreeMap<String, String>,
    ) -> String {
        let layout = layout.unwrap_or(&self.layout);
        let instant = DateTime::<Utc>::from_timestamp_millis(first_arrival_ms)
            .unwrap_or_else(Utc::now)
            .with_timezone(&self.zone)
            .fixed_offset();
        let ctx = KeyContext {
            instant,
            error_output_type: output.error_output_type(),
            partition_keys,
        };
        let (prefix, extension) = match (output, &self.backup) {
            _ if output.is_error_output() => (layout.render_error(&ctx), ""),
            (Output::Backup, Some(backup)) => (backup.render(&ctx), self.backup_extension.as_str()),
            (Output::Backup, None) => {
                (Prefix::empty().render(&ctx), self.backup_extension.as_str())
            }
            _ => (layout.prefix().render(&ctx), self.extension.as_str()),
        };
        let id = Uuid::new_v4();
        let suffix = object_suffix(&self.stream, self.version, instant, &id, extension);
        let key =
            prefix.and_then(|prefix| Ok(check_key(&(prefix.clone() + &suffix)).map(|()| prefix)?));
        match key {
            Ok(prefix) => prefix + &suffix,
            Err(e) => {
                // Config validation and the partition check before buffering make
                // this unreachable; were it reached, the object still gets a key it
                // can be written under rather than one retried forever.
                let fallback = fallback_prefix(output, instant);
                tracing::error!(stream = %self.stream, error = %e, fallback = %fallback,
                    "cannot evaluate the prefix into a writable key, writing the object under the fallback layout");
                fallback + &suffix
            }
        }
    }
}

/// The layout of an object whose configured prefix cannot make a key:
/// `<error-output-type or data>/yyyy/MM/dd/HH/`, which is always writable.
fn fallback_prefix(output: &Output, instant: DateTime<chrono::FixedOffset>) -> String {
    let top = output.error_output_type().unwrap_or(match output {
        Output::Backup => "backup",
        _ => "data",
    });
    format!("{top}/{}", instant.format("%Y/%m/%d/%H/"))
}
