//! An HTTP endpoint (the test helpers' receiver, which checks Firehose's
//! protocol), with its error destination in a local folder.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::objects;
use crate::common::raw;
use crate::common::receiver::{Receiver, Reply};
use crate::common::{Table, table};
use crate::{ERRORS, Target, config, daemon, errors, id, put_all, records, wait_errors};

pub struct Http {
    root: tempfile::TempDir,
    receiver: Receiver,
}

impl Http {
    /// An endpoint that answers the first requests as `script` says.
    fn scripted(script: &[Reply]) -> Self {
        Self {
            root: tempfile::tempdir().expect("tempdir"),
            receiver: Receiver::start(script),
        }
    }
}

impl Target for Http {
    fn new() -> Self {
        Self::scripted(&[])
    }

    fn destination(&self, retry: i64, _convert: bool) -> Table {
        let out = self.root.path().join("out");
        table([
            ("type", "http".into()),
            ("url", self.receiver.url().into()),
            ("retry_duration_seconds", retry.into()),
            (
                "error_destination",
                toml::Value::Table(table([
                    ("type", "local".into()),
                    ("path", out.display().to_string().into()),
                    ("error_output_prefix", ERRORS.into()),
                ])),
            ),
        ])
    }

    fn down(&mut self) {
        self.receiver.set_mode(Reply::Status(500));
    }

    fn up(&mut self) {
        self.receiver.set_mode(Reply::Ok);
    }

    /// The error destination's folder.
    fn objects(&self) -> Vec<(String, Vec<u8>)> {
        objects(&self.root.path().join("out"))
    }

    /// Once per request id, whose re-sends must carry the same records.
    fn delivered(&self) -> Vec<i64> {
        let mut requests: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
        for seen in self.receiver.seen() {
            if !seen.accepted {
                continue;
            }
            if let Some(before) = requests.get(&seen.request_id) {
                assert_eq!(
                    before, &seen.records,
                    "request {} re-sent with other records",
                    seen.request_id
                );
            }
            requests.insert(seen.request_id, seen.records);
        }
        let mut ids: Vec<i64> = requests
            .values()
            .flatten()
            .map(|r| id(&serde_json::from_slice(r).expect("JSON record")))
            .collect();
        ids.sort_unstable();
        ids
    }

    fn failed_type(&self) -> &'static str {
        "http-endpoint-failed"
    }

    /// 10,050 records make two requests of a batch; the endpoint refuses the
    /// first with 413, which no retry can fix: its records fail, the other
    /// request's are delivered.
    fn a_partly_failed_batch_delivers_the_rest() {
        let t = Http::scripted(&[Reply::Status(413)]);
        let config = config(&t, 60, false, (4, 3));
        let mut d = daemon(tempfile::tempdir().expect("tempdir"), &config);
        let sent = records(0..10_050);
        put_all(&d, &sent);
        let found = wait_errors(&t, 1, &d);
        assert!(d.stop().success(), "{}", d.log());
        let errors = if errors(&t).len() > found.len() {
            errors(&t)
        } else {
            found
        };
        let seen = t.receiver.seen();
        let refused: Vec<i64> = seen
            .iter()
            .filter(|s| !s.accepted)
            .flat_map(|s| s.records.iter())
            .map(|r| {
                serde_json::from_slice::<Value>(r).expect("JSON")["id"]
                    .as_i64()
                    .expect("id")
            })
            .collect();
        assert!(!refused.is_empty());
        assert!(
            errors.iter().all(|(k, _)| k == "http-endpoint-failed"),
            "{errors:?}"
        );
        let mut failed: Vec<i64> = errors
            .iter()
            .map(|(_, e)| {
                serde_json::from_str::<Value>(&raw(e)).expect("JSON")["id"]
                    .as_i64()
                    .expect("id")
            })
            .collect();
        failed.sort_unstable();
        let mut refused = refused;
        refused.sort_unstable();
        assert_eq!(failed, refused, "the refused request's records, each once");
        let delivered = t.delivered();
        assert!(!delivered.is_empty());
        let mut all = delivered.clone();
        all.extend(&failed);
        all.sort_unstable();
        assert_eq!(
            all,
            (0..10_050).collect::<Vec<_>>(),
            "every record once, delivered or failed"
        );
    }
}

crate::suite!(Http);
