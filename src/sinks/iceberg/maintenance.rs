//! Keeping a table healthy without a separate job: snapshots older than a
//! configured age are expired (the newest `retain_last` always kept), so that a
//! table taking a commit a minute does not carry every one of them forever, and
//! the manifest lists only they referenced are deleted.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use iceberg::Catalog;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use serde::Deserialize;

/// Iceberg's default `history.expire.max-snapshot-age-ms`: 5 days.
const DEFAULT_MAX_AGE_SECONDS: u64 = 5 * 24 * 3600;

/// `expire_snapshots = { max_age_seconds = 432000, retain_last = 1 }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpireSnapshots {
    /// Snapshots older than this are expired. It must exceed the longest time a
    /// daemon may stay down after a crash: a batch committed just before the crash
    /// is recognised by its snapshot, and once that is expired it would be
    /// committed again.
    #[serde(default = "default_max_age")]
    pub max_age_seconds: u64,
    /// The newest snapshots kept whatever their age (at least 1).
    #[serde(default = "default_retain_last")]
    pub retain_last: usize,
}

fn default_max_age() -> u64 {
    DEFAULT_MAX_AGE_SECONDS
}

fn default_retain_last() -> usize {
    1
}

/// When the table's snapshots were last expired.
pub struct Expiry {
    config: ExpireSnapshots,
    last: Mutex<Option<Instant>>,
}

impl Expiry {
    pub fn new(config: ExpireSnapshots) -> Self {
        Self {
            config,
            last: Mutex::new(None),
        }
    }

    /// Whether to expire after this commit: at most every quarter of the age
    /// (between once a second and once an hour), so that expiry costs about one
    /// metadata commit per period, not one per batch.
    fn due(&self) -> bool {
        let every = Duration::from_secs(self.config.max_age_seconds / 4)
            .clamp(Duration::from_secs(1), Duration::from_secs(3600));
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|l| l.elapsed() < every) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// Expires the table's old snapshots when due, then deletes their manifest
    /// lists (each snapshot has its own; the manifests they list stay, as later
    /// snapshots list them too after appends). Returns how many snapshots went.
    pub async fn run(&self, catalog: &dyn Catalog, table: &Table) -> Result<usize, iceberg::Error> {
        if !self.due() {
            return Ok(0);
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        let age_ms =
            i64::try_from(self.config.max_age_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        let cutoff_ms = now_ms.saturating_sub(age_ms);
        let before = table.metadata().snapshots().count();
        let retain_last = self.config.retain_last.max(1);
        // Nothing to expire: no commit (each writes a new metadata file).
        if before <= retain_last
            || !table
                .metadata()
                .snapshots()
                .any(|s| s.timestamp_ms() < cutoff_ms)
        {
            return Ok(0);
        }
        let tx = Transaction::new(table);
        let expire = tx
            .expire_snapshots()
            .expire_older_than_ms(cutoff_ms)
            .retain_last(retain_last);
        let tx = expire.apply(tx)?;
        let after = tx.commit(catalog).await?;
        let kept: HashSet<&str> = after
            .metadata()
            .snapshots()
            .map(|s| s.manifest_list())
            .collect();
        for snapshot in table.metadata().snapshots() {
            let list = snapshot.manifest_list();
            if kept.contains(list) {
                continue;
            }
            // Best effort: a file left behind costs space, not correctness.
            if let Err(e) = after.file_io().delete(list).await {
                tracing::warn!(file = %list, error = %e, "cannot delete the manifest list of an expired snapshot");
            }
        }
        Ok(before.saturating_sub(after.metadata().snapshots().count()))
    }
}
