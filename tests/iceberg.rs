//! The Iceberg destination against real parts: a SQLite SQL catalog, the warehouse
//! on SeaweedFS or a local folder, and the tables read back with pyiceberg
//! (through the same catalog) and DuckDB's Iceberg reader.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// The table's columns, one of each type the conversion takes.
fn columns() -> toml::Value {
    let columns = toml! {
        columns = [
            { name = "id", type = "bigint" }, { name = "ts", type = "timestamp" },
            { name = "user", type = "string" }, { name = "ok", type = "boolean" },
            { name = "qty", type = "int" }, { name = "price", type = "double" },
            { name = "amount", type = "decimal(10,2)" }, { name = "day", type = "date" },
            { name = "tags", type = "array<string>" },
            { name = "geo", type = "struct<lat:double,lon:double>" },
            { name = "attrs", type = "map<string,string>" }
        ]
    };
    columns["columns"].clone()
}

/// An Iceberg stream `events` into `lake.logs.events` (a SQLite catalog beside
/// the daemon's folder), 1 MiB buffers sealed after `interval_seconds`;
/// `destination` keys (its warehouse among them) set on the destination.
fn stream(destination: Table, interval_seconds: i64) -> Stream {
    Stream::new("events")
        .buffering(1, interval_seconds)
        .destination(toml! {
            type = "iceberg"
            catalog = { type = "sql", uri = "sqlite://{dir}/../catalog.db", name = "lake" }
            namespace = "logs"
            table = "events"
            error_output_prefix = "errors/!{firehose:error-output-type}/"
        })
        .merge("destination", destination)
}

/// [`stream`], alone in the file.
fn config(destination: Table, interval_seconds: i64) -> String {
    Conf::new()
        .stream(stream(destination, interval_seconds))
        .text()
}

/// A warehouse at `location`.
fn warehouse(location: &str) -> Table {
    table([("warehouse", location.into())])
}

/// The warehouse in SeaweedFS, with its connection keys.
fn s3_warehouse(s3: &Seaweed) -> Table {
    table([
        ("warehouse", format!("s3://{BUCKET}/warehouse").into()),
        ("endpoint", s3.endpoint.clone().into()),
        ("region", "us-east-1".into()),
        ("access_key_id", S3_USER.0.into()),
        ("secret_access_key", S3_USER.1.into()),
    ])
}

/// The table, created when missing with [`columns`] and partitioned by
/// `partition_by`.
fn create_table(partition_by: &[&str]) -> Table {
    table([(
        "create_table",
        toml::Value::Table(table([
            ("columns", columns()),
            ("partition_by", partition_by.to_vec().into()),
        ])),
    )])
}

/// `a` with the keys of `b` set too.
fn with(a: Table, b: Table) -> Table {
    a.into_iter().chain(b).collect()
}

/// A record of every type, `n` giving its values.
fn record(n: usize) -> Value {
    json!({
        "id": n, "ts": format!("2026-03-{:02}T10:{:02}:00Z", 1 + n % 3, n % 60),
        "user": format!("u{}", n % 7), "ok": n.is_multiple_of(2), "qty": n * 3,
        "price": n as f64 / 4.0, "amount": n as f64 + 0.25, "day": "2026-01-31",
        "tags": ["a", format!("t{n}")], "geo": { "lat": 1.5, "lon": -2.25 },
        "attrs": { "k": format!("v{n}") }, "ignored": "not a column"
    })
}

/// Reads `logs.events` with pyiceberg. The folder holds `catalog.db` beside the
/// daemons' folders.
fn read(root: &Path, warehouse: &str, s3: Option<&Seaweed>) -> Value {
    read_table(root, warehouse, s3, "logs.events")
}

fn read_table(root: &Path, warehouse: &str, s3: Option<&Seaweed>, table: &str) -> Value {
    let db = root.join("catalog.db");
    let db = db.display().to_string();
    let mut args = vec![db.as_str(), "lake", warehouse, table];
    if let Some(s3) = s3 {
        args.extend_from_slice(&[s3.endpoint.as_str(), S3_ADMIN.0, S3_ADMIN.1]);
    }
    py_json("read_iceberg.py", &args)
}

/// The table's rows as DuckDB's Iceberg reader sees them.
fn duckdb_rows(metadata_location: &str, s3: Option<&Seaweed>) -> Value {
    let venv = tools().cache().join("duckdb-iceberg");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/duckdb_iceberg.py");
    let mut command = Command::new(venv.join("bin/python"));
    command.arg(script).arg(metadata_location);
    if let Some(s3) = s3 {
        command.args([s3.endpoint.as_str(), S3_ADMIN.0, S3_ADMIN.1]);
    }
    let out = command.output().expect("run DuckDB's Iceberg reader");
    assert!(
        out.status.success(),
        "duckdb_iceberg.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON rows")
}

fn ids(rows: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["id"].as_i64().expect("an id"))
        .collect();
    ids.sort_unstable();
    ids
}

/// A stream into a table it creates in the local warehouse at `location`,
/// whose records pass a `metadata_extraction` processor with `query`.
fn with_query(location: &str, query: &str) -> Stream {
    stream(with(warehouse(location), create_table(&[])), 900).processor(table([
        ("type", "metadata_extraction".into()),
        ("query", query.into()),
    ]))
}

/// The error records of the objects under `prefix` in the local folder `root`.
fn errors_under(root: &Path, prefix: &str) -> Vec<Value> {
    objects(root)
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .flat_map(|(_, body)| {
            String::from_utf8_lossy(body)
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("error record"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A daemon in its own folder under `root`, so that daemons share `catalog.db`.
fn daemon_in(root: &Path, config: &str) -> Daemon {
    let dir = tempfile::tempdir_in(root).expect("a daemon folder");
    Daemon::start_in(dir, config)
}

/// Waits until the table holds at least `n` rows.
fn wait_rows(root: &Path, warehouse: &str, s3: Option<&Seaweed>, n: usize, d: &Daemon) -> Value {
    let table = || -> Option<Value> {
        if root.join("catalog.db").exists() {
            let out = Command::new(tools().python())
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/read_iceberg.py"))
                .arg(root.join("catalog.db"))
                .args(["lake", warehouse, "logs.events"])
                .args(
                    s3.map(|s| vec![s.endpoint.clone(), S3_ADMIN.0.into(), S3_ADMIN.1.into()])
                        .unwrap_or_default(),
                )
                .output()
                .expect("run pyiceberg");
            if out.status.success() {
                let table: Value = serde_json::from_slice(&out.stdout).expect("JSON");
                if table["rows"].as_array().map_or(0, Vec::len) >= n {
                    return Some(table);
                }
            }
        }
        None
    };
    eventually(
        Duration::from_secs(60),
        || format!("the table to get {n} rows:\n{}", d.log()),
        table,
    )
}

#[test]
fn records_become_rows_of_a_created_partitioned_table_read_by_pyiceberg_and_duckdb() {
    let s3 = Seaweed::start();
    let root = tempfile::tempdir().expect("tempdir");
    let location = format!("s3://{BUCKET}/warehouse");
    let config = config(
        with(
            s3_warehouse(&s3),
            create_table(&["day(ts)", "bucket(4, user)"]),
        ),
        900,
    );
    let mut d = daemon_in(root.path(), &config);
    let records: Vec<String> = (0..200).map(|n| format!("{}\n", record(n))).collect();
    assert!(put_batch(d.addr, "events", &records[..100]));
    assert!(put_batch(d.addr, "events", &records[100..]));
    let misfits = vec![
        "not json\n".to_string(),
        "{\"id\": 999, \"qty\": \"many\"}\n".to_string(),
    ];
    assert!(put_batch(d.addr, "events", &misfits));
    assert!(d.stop().success(), "{}", d.log());

    let table = read(root.path(), &location, Some(&s3));
    assert_eq!(ids(&table["rows"]), (0..200).collect::<Vec<i64>>());
    let row7 = table["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["id"] == 7)
        .expect("row 7");
    assert_eq!(
        row7,
        &json!({
            "id": 7, "ts": "2026-03-02T10:07:00.000000", "user": "u0", "ok": false, "qty": 21,
            "price": 1.75, "amount": "7.25", "day": "2026-01-31", "tags": ["a", "t7"],
            "geo": { "lat": 1.5, "lon": -2.25 }, "attrs": { "k": "v7" }
        })
    );
    let schema: Vec<String> = table["schema"]
        .as_array()
        .expect("schema")
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["name"].as_str().unwrap_or_default(),
                f["type"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(schema[..3], ["id long", "ts timestamp", "user string"]);
    assert_eq!(
        table["partition_spec"],
        json!([{ "name": "ts_day", "transform": "day" }, { "name": "user_bucket", "transform": "bucket[4]" }])
    );
    // One fast append for the one sealed buffer, named in its summary.
    let snapshots = table["snapshots"].as_array().expect("snapshots");
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert_eq!(snapshots[0]["summary"]["operation"], "append");
    assert!(
        snapshots[0]["summary"]["sluice.batch"]
            .as_str()
            .is_some_and(|b| b.contains("/events-1-")),
        "{snapshots:?}"
    );
    assert_eq!(snapshots[0]["summary"]["added-records"], "200");
    // 3 days x up to 4 buckets: a data file per partition, under the warehouse.
    let files = table["data_files"].as_array().expect("files");
    assert!(files.len() > 3 && files.len() <= 12, "{files:?}");
    assert!(
        files.iter().all(|f| f["path"].as_str().is_some_and(|p| {
            p.starts_with(&format!("s3://{BUCKET}/warehouse/logs/events/data/ts_day="))
        })),
        "{files:?}"
    );
    // DuckDB reads the same rows.
    let location = table["metadata_location"].as_str().expect("a location");
    let duck = duckdb_rows(location, Some(&s3));
    assert_eq!(ids(&duck), (0..200).collect::<Vec<i64>>());
    let duck7 = duck
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["id"] == 7)
        .expect("row 7");
    assert_eq!(
        (&duck7["amount"], &duck7["user"]),
        (&json!("7.25"), &json!("u0"))
    );

    // The misfits are error records in the warehouse's bucket, with their raw data.
    let errors: Vec<Value> = s3
        .objects(BUCKET)
        .iter()
        .filter(|o| o.key.starts_with("errors/format-conversion-failed/"))
        .flat_map(|o| {
            String::from_utf8_lossy(&o.body)
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("an error record"))
                .collect::<Vec<_>>()
        })
        .collect();
    let by = by_raw(&errors);
    assert_eq!(by.keys().cloned().collect::<Vec<_>>(), misfits);
    assert_eq!(
        by["not json\n"]["lastErrorCode"],
        "DataFormatConversion.ParseError"
    );
    assert_eq!(
        by["{\"id\": 999, \"qty\": \"many\"}\n"]["lastErrorCode"],
        "DataFormatConversion.MalformedData"
    );
}

#[test]
fn a_missing_table_without_create_table_sends_the_records_to_the_error_output() {
    let root = tempfile::tempdir().expect("tempdir");
    let warehouse_dir = root.path().join("warehouse");
    let config = config(
        with(
            warehouse(&format!("file://{}", warehouse_dir.display())),
            toml! { retry_duration_seconds = 2 },
        ),
        1,
    );
    let d = daemon_in(root.path(), &config);
    let records = json_lines(5, "id");
    assert!(put_batch(d.addr, "events", &records));
    let errors = read_until(
        Duration::from_secs(60),
        || -> Vec<Value> {
            objects(&warehouse_dir)
                .iter()
                .filter(|(k, _)| k.starts_with("errors/delivery-failed/"))
                .flat_map(|(_, body)| {
                    String::from_utf8_lossy(body)
                        .lines()
                        .map(|l| serde_json::from_str::<Value>(l).expect("an error record"))
                        .collect::<Vec<_>>()
                })
                .collect()
        },
        |errors| errors.len() >= 5,
    );
    assert_eq!(
        by_raw(&errors).keys().cloned().collect::<Vec<_>>(),
        records,
        "{}",
        d.log()
    );
    assert_eq!(errors[0]["errorCode"], "Iceberg.TableNotFound");
    // The daemon goes on taking records.
    assert!(put_batch(d.addr, "events", &records));
}

#[test]
fn describe_shows_the_table_and_check_refuses_what_does_not_fit_a_table() {
    let root = tempfile::tempdir().expect("tempdir");
    let location = format!("file://{}/wh", root.path().display());
    let d = daemon_in(
        root.path(),
        &config(
            with(
                with(warehouse(&location), create_table(&["hour(ts)"])),
                toml! {
                    tables = [{
                        namespace = "logs",
                        table = "clicks",
                        error_output_prefix = "clicks/!{firehose:error-output-type}/"
                    }]
                },
            ),
            60,
        ),
    );
    let described = firehose(
        d.addr,
        "DescribeDeliveryStream",
        r#"{"DeliveryStreamName":"events"}"#,
    )
    .json();
    let destination =
        &described["DeliveryStreamDescription"]["Destinations"][0]["IcebergDestinationDescription"];
    assert_eq!(
        destination["DestinationTableConfigurationList"],
        json!([{ "DestinationDatabaseName": "logs", "DestinationTableName": "events",
                 "UniqueKeys": [], "S3ErrorOutputPrefix": "errors/!{firehose:error-output-type}/" },
               { "DestinationDatabaseName": "logs", "DestinationTableName": "clicks",
                 "UniqueKeys": [], "S3ErrorOutputPrefix": "clicks/!{firehose:error-output-type}/" }])
    );
    assert_eq!(destination["TableCreationConfiguration"]["Enabled"], true);
    assert_eq!(
        destination["CatalogConfiguration"]["WarehouseLocation"],
        format!("file://{}/wh", root.path().display())
    );
    assert_eq!(destination["RetryOptions"]["DurationInSeconds"], 300);

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = Conf::new()
        .stream(
            stream(
                with(
                    with(
                        warehouse(&location),
                        create_table(&["week(ts)", "bucket(0, id)"]),
                    ),
                    toml! { tables = [{ namespace = "logs", table = "events", unique_keys = ["id"] }] },
                ),
                900,
            )
            .set("compression", "gzip"),
        )
        .text()
        .replace("{listen}", "127.0.0.1:0")
    .replace("{dir}", &dir.path().display().to_string());
    std::fs::write(dir.path().join("bad.toml"), bad).expect("config");
    let out = sluice(&["check", "--config", "bad.toml"], dir.path());
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("delivery_streams[0].destination.create_table") && said.contains("week(ts)"),
        "{said}"
    );
    assert!(said.contains("delivery_streams[0].compression"), "{said}");
    assert!(
        said.contains("delivery_streams[0].destination.tables[0].unique_keys")
            && said.contains("updates and deletes are not supported"),
        "{said}"
    );
}

/// The promise: whatever instant a kill -9 hits (between the data files and the
/// commit, or between the commit and the spool's record of it), every
/// acknowledged record is a row once, and no batch is committed twice.
#[test]
fn kill_9_under_load_commits_every_acknowledged_record_exactly_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let location = format!("file://{}/wh", root.path().display());
    let config = config(
        with(warehouse(&location), create_table(&["bucket(2, user)"])),
        0,
    );
    let dir = tempfile::tempdir_in(root.path()).expect("a daemon folder");
    let mut acknowledged = BTreeSet::new();
    let mut next = 0usize;
    let mut dir = Some(dir);
    for round in 0..4 {
        let d = Daemon::start_in(dir.take().expect("the folder"), &config);
        let until = Instant::now() + Duration::from_millis(1500 + 400 * round);
        while Instant::now() < until {
            let batch: Vec<String> = (next..next + 50)
                .map(|n| format!("{}\n", record(n)))
                .collect();
            if put_batch(d.addr, "events", &batch) {
                acknowledged.extend(next..next + 50);
            }
            next += 50;
        }
        dir = Some(d.into_dir()); // SIGKILL
    }
    let mut d = Daemon::start_in(dir.take().expect("the folder"), &config);
    let table = wait_rows(root.path(), &location, None, acknowledged.len(), &d);
    assert!(d.stop().success(), "{}", d.log());
    let table = if table["rows"].as_array().map_or(0, Vec::len) == acknowledged.len() {
        read(root.path(), &location, None)
    } else {
        table
    };
    let rows = ids(&table["rows"]);
    let unique: BTreeSet<i64> = rows.iter().copied().collect();
    assert_eq!(rows.len(), unique.len(), "duplicate rows:\n{}", d.log());
    let acknowledged: BTreeSet<i64> = acknowledged.iter().map(|&n| n as i64).collect();
    assert!(
        acknowledged.is_subset(&unique),
        "lost: {:?}",
        acknowledged.difference(&unique).take(5).collect::<Vec<_>>()
    );
    let batches: Vec<&str> = table["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .filter_map(|s| s["summary"]["sluice.batch"].as_str())
        .collect();
    let distinct: BTreeSet<&&str> = batches.iter().collect();
    assert_eq!(batches.len(), distinct.len(), "a batch committed twice");
    eprintln!(
        "{} acknowledged, {} rows, {} snapshots",
        acknowledged.len(),
        rows.len(),
        batches.len()
    );
}

#[test]
fn two_daemons_append_to_one_table_without_losing_a_commit() {
    let s3 = Seaweed::start();
    let root = tempfile::tempdir().expect("tempdir");
    let location = format!("s3://{BUCKET}/warehouse");
    let config = config(with(s3_warehouse(&s3), create_table(&[])), 0);
    let mut a = daemon_in(root.path(), &config);
    let mut b = daemon_in(root.path(), &config);
    std::thread::scope(|scope| {
        for (d, base) in [(&a, 0usize), (&b, 10_000)] {
            scope.spawn(move || {
                for chunk in 0..10 {
                    let start = base + chunk * 50;
                    let batch: Vec<String> = (start..start + 50)
                        .map(|n| format!("{}\n", record(n)))
                        .collect();
                    assert!(put_batch(d.addr, "events", &batch));
                    // A load spread over a second, so the two daemons' commits
                    // interleave (a shape of the load, not a wait).
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
    });
    assert!(a.stop().success(), "{}", a.log());
    assert!(b.stop().success(), "{}", b.log());
    let table = read(root.path(), &location, Some(&s3));
    let expected: Vec<i64> = (0..500).chain(10_000..10_500).collect();
    assert_eq!(ids(&table["rows"]), expected);
    let mut per_batch: BTreeMap<String, usize> = BTreeMap::new();
    for s in table["snapshots"].as_array().expect("snapshots") {
        *per_batch
            .entry(
                s["summary"]["sluice.batch"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
            .or_default() += 1;
    }
    assert!(per_batch.len() >= 2, "{per_batch:?}");
    assert!(per_batch.values().all(|&n| n == 1), "{per_batch:?}");
}

#[test]
fn old_snapshots_are_expired_and_every_row_stays() {
    let root = tempfile::tempdir().expect("tempdir");
    let location = format!("file://{}/wh", root.path().display());
    let config = config(
        with(
            with(warehouse(&location), create_table(&[])),
            toml! { expire_snapshots = { max_age_seconds = 1, retain_last = 2 } },
        ),
        0,
    );
    let mut d = daemon_in(root.path(), &config);
    for batch in 0..8 {
        let records: Vec<String> = (batch * 10..batch * 10 + 10)
            .map(|n| format!("{}\n", record(n)))
            .collect();
        assert!(put_batch(d.addr, "events", &records));
        wait_rows(root.path(), &location, None, batch * 10 + 10, &d);
        // Snapshots expire by age (`max_age_seconds = 1`): the appends must be
        // apart in wall time for some to be old.
        std::thread::sleep(Duration::from_millis(600));
    }
    assert!(d.stop().success(), "{}", d.log());
    let table = read(root.path(), &location, None);
    assert_eq!(ids(&table["rows"]), (0..80).collect::<Vec<i64>>());
    let snapshots = table["snapshots"].as_array().expect("snapshots");
    assert!(
        (2..=4).contains(&snapshots.len()),
        "8 appends, 2 kept and those younger than a second: {snapshots:?}\n{}",
        d.log()
    );
    assert!(d.log().contains("expired old snapshots"), "{}", d.log());
    // The manifest lists of the expired snapshots are deleted: one left per
    // snapshot kept.
    let lists = objects(&root.path().join("wh"))
        .iter()
        .filter(|(k, _)| {
            k.rsplit('/')
                .next()
                .is_some_and(|name| name.starts_with("snap-") && name.ends_with(".avro"))
        })
        .count();
    assert_eq!(lists, snapshots.len(), "{}", d.log());
}

#[test]
fn each_record_goes_to_the_table_its_routing_metadata_names() {
    let root = tempfile::tempdir().expect("tempdir");
    let location = format!("file://{}/wh", root.path().display());
    let config = Conf::new()
        .stream(
            with_query(&location, "{destinationTableName: .kind}")
                .set(
                    "destination.table",
                    "!{partitionKeyFromQuery:destinationTableName}",
                )
                .merge(
                    "destination",
                    toml! {
                        tables = [{
                            namespace = "logs",
                            table = "clicks",
                            error_output_prefix = "clicks-errors/!{firehose:error-output-type}/"
                        }]
                    },
                ),
        )
        .text();
    let mut d = daemon_in(root.path(), &config);
    let mut records: Vec<String> = (0..60)
        .map(|n| {
            let mut r = record(n);
            r["kind"] = json!(if n % 3 == 0 { "clicks" } else { "views" });
            format!("{r}\n")
        })
        .collect();
    // A misfit for each table: each lands under its table's error prefix.
    let misfits = [
        "{\"id\": 900, \"qty\": \"many\", \"kind\": \"clicks\"}\n".to_string(),
        "{\"id\": 901, \"qty\": \"many\", \"kind\": \"views\"}\n".to_string(),
    ];
    records.extend(misfits.iter().cloned());
    assert!(put_batch(d.addr, "events", &records));
    assert!(d.stop().success(), "{}", d.log());
    let raws_under = |prefix: &str| -> Vec<String> {
        errors_under(&root.path().join("wh"), prefix)
            .iter()
            .map(raw)
            .collect()
    };
    assert_eq!(
        raws_under("clicks-errors/format-conversion-failed/"),
        vec![misfits[0].clone()]
    );
    assert_eq!(
        raws_under("errors/format-conversion-failed/"),
        vec![misfits[1].clone()]
    );
    let clicks = read_table(root.path(), &location, None, "logs.clicks");
    let views = read_table(root.path(), &location, None, "logs.views");
    assert_eq!(
        ids(&clicks["rows"]),
        (0..60).filter(|n| n % 3 == 0).collect::<Vec<i64>>()
    );
    assert_eq!(
        ids(&views["rows"]),
        (0..60).filter(|n| n % 3 != 0).collect::<Vec<i64>>()
    );
    assert_eq!(clicks["snapshots"].as_array().map(Vec::len), Some(1));
    assert_eq!(views["snapshots"].as_array().map(Vec::len), Some(1));
}

/// As in Firehose, routing metadata named `destinationTableName` overrides the
/// configured table without being written into it; records without it go to
/// the configured table.
#[test]
fn routing_metadata_by_its_firehose_name_overrides_the_configured_table() {
    let root = tempfile::tempdir().expect("tempdir");
    let location = format!("file://{}/wh", root.path().display());
    let config = Conf::new()
        .stream(with_query(&location, "{destinationTableName: .kind}"))
        .text();
    let mut d = daemon_in(root.path(), &config);
    let records: Vec<String> = (0..30)
        .map(|n| {
            let mut r = record(n);
            if n % 3 == 0 {
                r["kind"] = json!("clicks");
            }
            format!("{r}\n")
        })
        .collect();
    assert!(put_batch(d.addr, "events", &records));
    assert!(d.stop().success(), "{}", d.log());
    let clicks = read_table(root.path(), &location, None, "logs.clicks");
    let events = read(root.path(), &location, None);
    assert_eq!(
        ids(&clicks["rows"]),
        (0..30).filter(|n| n % 3 == 0).collect::<Vec<i64>>()
    );
    assert_eq!(
        ids(&events["rows"]),
        (0..30).filter(|n| n % 3 != 0).collect::<Vec<i64>>(),
        "{}",
        d.log()
    );
}

/// A plugin's partition key `destinationTableName` (a Lambda's `otfMetadata`)
/// routes its record too, without being named in the config.
#[test]
fn a_plugins_routing_metadata_routes_its_records() {
    let root = tempfile::tempdir().expect("tempdir");
    let location = format!("file://{}/wh", root.path().display());
    let config = Conf::new()
        .stream(
            stream(with(warehouse(&location), create_table(&[])), 900).processor(table([
                ("type", "wasm".into()),
                ("module", plugin("py-partition").into()),
                (
                    "params",
                    toml::Value::Table(toml! { fields = "destinationTableName" }),
                ),
            ])),
        )
        .text();
    let mut d = daemon_in(root.path(), &config);
    let records: Vec<String> = (0..20)
        .map(|n| {
            let mut r = record(n);
            r["destinationTableName"] = json!(if n % 2 == 0 { "clicks" } else { "views" });
            format!("{r}\n")
        })
        .collect();
    assert!(put_batch(d.addr, "events", &records));
    assert!(d.stop().success(), "{}", d.log());
    let clicks = read_table(root.path(), &location, None, "logs.clicks");
    let views = read_table(root.path(), &location, None, "logs.views");
    assert_eq!(
        ids(&clicks["rows"]),
        (0..20).filter(|n| n % 2 == 0).collect::<Vec<i64>>()
    );
    assert_eq!(
        ids(&views["rows"]),
        (0..20).filter(|n| n % 2 == 1).collect::<Vec<i64>>()
    );
}

/// Firehose's routing metadata may name an `operation`: inserts become rows;
/// updates and deletes (equality deletes, which the Iceberg crate cannot commit)
/// go to the error output with their raw data instead of being appended.
#[test]
fn only_inserts_are_appended_and_updates_and_deletes_go_to_the_error_output() {
    let root = tempfile::tempdir().expect("tempdir");
    let location = format!("file://{}/wh", root.path().display());
    let config = Conf::new()
        .stream(with_query(&location, "{operation: .op}"))
        .text();
    let mut d = daemon_in(root.path(), &config);
    let ops = ["insert", "update", "delete", "INSERT"];
    let records: Vec<String> = (0..40)
        .map(|n| {
            let mut r = record(n);
            r["op"] = json!(ops[n % 4]);
            format!("{r}\n")
        })
        .collect();
    assert!(put_batch(d.addr, "events", &records));
    assert!(d.stop().success(), "{}", d.log());
    let table = read(root.path(), &location, None);
    assert_eq!(
        ids(&table["rows"]),
        (0..40)
            .filter(|n| n % 4 == 0 || n % 4 == 3)
            .collect::<Vec<i64>>()
    );
    let errors: Vec<Value> = errors_under(&root.path().join("wh"), "errors/processing-failed/");
    let by = by_raw(&errors);
    let expected: Vec<String> = (0..40)
        .filter(|n| n % 4 == 1 || n % 4 == 2)
        .map(|n| records[n].clone())
        .collect();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(by.keys().cloned().collect::<Vec<_>>(), expected_sorted);
    for e in &errors {
        assert_eq!(e["errorCode"], "Iceberg.UnsupportedOperation", "{e}");
        assert!(
            e["errorMessage"]
                .as_str()
                .is_some_and(|m| m.contains("update") || m.contains("delete")),
            "{e}"
        );
    }
}

/// A table made by another engine with a required column: a record without a
/// value for it is a `format-conversion-failed` error record, and the rest of
/// its batch is committed.
#[test]
fn a_record_missing_a_required_column_fails_alone() {
    let root = tempfile::tempdir().expect("tempdir");
    let location = format!("file://{}/wh", root.path().display());
    let db = root.path().join("catalog.db");
    py_json(
        "create_iceberg_table.py",
        &[db.to_str().expect("path"), "lake", &location, "logs.events"],
    );
    let config = config(warehouse(&location), 900);
    let mut d = daemon_in(root.path(), &config);
    let mut records: Vec<String> = (0..30)
        .map(|n| format!("{}\n", json!({ "id": n, "msg": format!("m{n}") })))
        .collect();
    let misfits = vec![
        "{\"msg\": \"no id\"}\n".to_string(),
        "{\"id\": null, \"msg\": \"null id\"}\n".to_string(),
    ];
    records.splice(10..10, misfits.clone());
    assert!(put_batch(d.addr, "events", &records));
    assert!(d.stop().success(), "{}", d.log());
    let table = read(root.path(), &location, None);
    assert_eq!(ids(&table["rows"]), (0..30).collect::<Vec<i64>>());
    assert_eq!(
        table["schema"][0],
        json!({ "name": "id", "type": "long", "required": true })
    );
    let errors: Vec<Value> =
        errors_under(&root.path().join("wh"), "errors/format-conversion-failed/");
    let mut expected = misfits;
    expected.sort();
    assert_eq!(
        by_raw(&errors).keys().cloned().collect::<Vec<_>>(),
        expected
    );
    assert!(
        errors.iter().all(|e| e["lastErrorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("`id` is required"))),
        "{errors:?}"
    );
}

#[test]
fn with_schema_evolution_new_keys_become_columns_and_without_it_they_are_ignored() {
    let root = tempfile::tempdir().expect("tempdir");
    let location = format!("file://{}/wh", root.path().display());
    let small = toml! { create_table = { columns = [{ name = "id", type = "bigint" }] } };
    let records: Vec<String> = (0..4)
        .map(|n| {
            format!(
                "{}\n",
                json!({ "id": n, "region": "eu", "score": n as f64 + 0.5 })
            )
        })
        .collect();
    // Off (the default): the keys are ignored, as Firehose ignores them.
    let mut d = daemon_in(
        root.path(),
        &config(with(warehouse(&location), small.clone()), 900),
    );
    assert!(put_batch(d.addr, "events", &records));
    assert!(d.stop().success(), "{}", d.log());
    let table = read(root.path(), &location, None);
    assert_eq!(
        table["schema"].as_array().map(Vec::len),
        Some(1),
        "{}",
        table["schema"]
    );
    assert_eq!(ids(&table["rows"]), vec![0, 1, 2, 3]);
    // On: a schema update adds them before the data that carries them.
    let evolving = with(small, toml! { schema_evolution = true });
    let mut d = daemon_in(
        root.path(),
        &config(with(warehouse(&location), evolving), 900),
    );
    let more: Vec<String> = (4..8)
        .map(|n| {
            format!(
                "{}\n",
                json!({ "id": n, "region": "us", "score": n as f64 + 0.5 })
            )
        })
        .collect();
    assert!(put_batch(d.addr, "events", &more));
    assert!(d.stop().success(), "{}", d.log());
    let table = read(root.path(), &location, None);
    assert_eq!(
        table["schema"],
        json!([
            { "name": "id", "type": "long", "required": false },
            { "name": "region", "type": "string", "required": false },
            { "name": "score", "type": "double", "required": false }
        ])
    );
    let rows = table["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 8);
    let row = |id: i64| rows.iter().find(|r| r["id"] == id).expect("a row");
    // Rows written before the columns existed read them as null.
    assert_eq!(
        (&row(1)["region"], &row(1)["score"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(
        (&row(5)["region"], &row(5)["score"]),
        (&json!("us"), &json!(5.5))
    );
}

/// SeaweedFS's Iceberg REST catalog (`weed mini` with the S3 Tables bucket
/// `lake`, no identities: anonymous, as iceberg-catalog-rest signs no SigV4).
struct RestCatalog {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    s3: String,
    catalog: String,
}

impl RestCatalog {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = || loop {
            let p = free_port();
            if p < 55_000 && std::net::TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
                return p;
            }
        };
        let [master, volume, filer, s3, iceberg, admin] = [0; 6].map(|_| port());
        let log = std::fs::File::create(dir.path().join("weed.log")).expect("log");
        let child = Command::new(tools().bin("weed"))
            .arg("mini")
            .arg(format!("-dir={}", dir.path().display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-s3.port.lance=0",
                "-tableBucket=lake",
            ])
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-s3.port.iceberg={iceberg}"))
            .arg(format!("-admin.port={admin}"))
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start weed mini");
        let catalog = format!("http://127.0.0.1:{iceberg}");
        let addr: std::net::SocketAddr = format!("127.0.0.1:{iceberg}").parse().expect("addr");
        eventually(
            Duration::from_secs(60),
            || {
                let log = std::fs::read_to_string(dir.path().join("weed.log")).unwrap_or_default();
                format!("the REST catalog to start:\n{log}")
            },
            || {
                http(addr, "GET", "/v1/config?warehouse=s3://lake", &[], b"")
                    .is_ok_and(|r| r.status == 200)
                    .then_some(())
            },
        );
        Self {
            child,
            _dir: dir,
            s3: format!("http://127.0.0.1:{s3}"),
            catalog,
        }
    }
}

impl Drop for RestCatalog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_rest_catalog_takes_the_commits_and_pyiceberg_reads_them_through_it() {
    let rest = RestCatalog::start();
    let config = Conf::new()
        .stream(
            Stream::new("events")
                .buffering(1, 900)
                .destination(toml! {
                    type = "iceberg"
                    catalog = { type = "rest", name = "seaweed" }
                    warehouse = "s3://lake"
                    region = "us-east-1"
                    access_key_id = "anonymous"
                    secret_access_key = "anonymous"
                    namespace = "logs"
                    table = "events"
                })
                .set("destination.catalog.uri", rest.catalog.clone())
                .set("destination.endpoint", rest.s3.clone())
                .merge("destination", create_table(&["day(ts)"])),
        )
        .text();
    let mut d = Daemon::start(&config);
    let records: Vec<String> = (0..50).map(|n| format!("{}\n", record(n))).collect();
    assert!(put_batch(d.addr, "events", &records));
    assert!(d.stop().success(), "{}", d.log());
    let table = py_json(
        "read_iceberg.py",
        &[
            &rest.catalog,
            "seaweed",
            "s3://lake",
            "logs.events",
            &rest.s3,
            "anonymous",
            "anonymous",
        ],
    );
    assert_eq!(
        ids(&table["rows"]),
        (0..50).collect::<Vec<i64>>(),
        "{}",
        d.log()
    );
    let snapshots = table["snapshots"].as_array().expect("snapshots");
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert!(
        snapshots[0]["summary"]["sluice.batch"].is_string(),
        "{snapshots:?}"
    );
    assert_eq!(
        table["partition_spec"],
        json!([{ "name": "ts_day", "transform": "day" }])
    );
}
