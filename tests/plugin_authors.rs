//! What plugin authors trip over, through `sluice transform test`, `sluice check`
//! and the daemon: the Python standard library (lazy imports such as `_strptime`
//! included), JavaScript answers whose `data` is not bytes, exceptions whose
//! message must reach the error record, chains with per-module params, the compile
//! cache used by `check` and pruned by the daemon, and a daemon that answers
//! `/health` while its plugins compile.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// `sluice transform test` in `dir`: `modules` in order on `input`, with `extra`
/// arguments (`--params`, `--cache-dir`).
fn transform_test(
    dir: &std::path::Path,
    modules: &[&str],
    input: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec!["transform", "test", "--input", input];
    for module in modules {
        args.extend(["--module", module]);
    }
    args.extend(extra);
    sluice(&args, dir)
}

/// A stream `t` running `module` on one record per call, into `{dir}/out`.
fn one_record_calls(module: &str) -> String {
    format!(
        "[server]\nlisten = \"{{listen}}\"\n[[delivery_streams]]\nname = \"t\"\n\
         processors = [{{ type = \"wasm\", module = \"{module}\", batch_records = 1, retries = 1 }}]\n\
         buffering = {{ size_mb = 1, interval_seconds = 0 }}\n\
         destination = {{ type = \"local\", path = \"{{dir}}/out\", \
         error_output_prefix = \"errors/!{{firehose:error-output-type}}/\" }}\n"
    )
}

/// The delivered records (not the error output), one per line.
fn delivered_lines(daemon: &Daemon) -> Vec<String> {
    objects(&daemon.path("out"))
        .into_iter()
        .filter(|(k, _)| !k.starts_with("errors/"))
        .flat_map(|(_, body)| {
            String::from_utf8(body)
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn expected_modules() -> Value {
    json!({
        "re": ["12", "34"],
        "json": { "k": [1, 2] },
        "gzip": "hello",
        "zlib": 907060870,
        "base64": "aGVsbG8=",
        "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        "md5": "5d41402abc4b2a76b9719d911017c592",
        "csv": ["a", "b,c", "d"],
        "query": { "a": ["1"], "b": ["2"] },
        "private": true,
    })
}

#[test]
fn python_plugins_have_the_standard_library_strptime_included() {
    // In the daemon: a record's exception fails that record; the whole call's
    // exception reaches every record of the call, message and all.
    let mut daemon = Daemon::start(&one_record_calls(&plugin("py_stdlib")));
    let records = [
        "modules\n",
        "when 01/Jan/2024:00:00:00 +0000\n",
        "raise\n",
        "crash\n",
    ]
    .map(String::from);
    for record in &records {
        assert!(put_batch(daemon.addr, "t", std::slice::from_ref(record)));
    }
    let errors = by_raw(&wait_for_errors(&daemon, "processing-failed", 2));
    let raised = &errors["raise\n"];
    assert_eq!(raised["errorCode"], "Lambda.ProcessingFailedStatus");
    assert_eq!(raised["errorMessage"], "ValueError: bad record");
    let crashed = &errors["crash\n"];
    assert_eq!(crashed["errorCode"], "Lambda.FunctionError");
    let message = crashed["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("RuntimeError: boom raised by the plugin"),
        "{message}"
    );
    assert!(
        !message.contains("wasm backtrace") && !message.contains("<wasm function"),
        "no wasm backtrace in the record: {message}"
    );
    assert_eq!(crashed["attemptsMade"], 2);
    eventually(
        Duration::from_secs(30),
        || format!("`delivered_lines(&daemon).len() >= 2`:\n{}", daemon.log()),
        || (delivered_lines(&daemon).len() >= 2).then_some(()),
    );
    // `transform test`, from the daemon's compile cache.
    let cache = daemon.path("data/spool/plugin-cache");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.ndjson"),
        "modules\nwhen 10/Oct/2000:13:55:36 -0700\nraise\n",
    )
    .unwrap();
    let out = transform_test(
        dir.path(),
        &[&plugin("py_stdlib")],
        "in.ndjson",
        &["--cache-dir", cache.to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    let modules = lines[1].strip_prefix("0 ok ").expect(&stdout);
    let modules: String = serde_json::from_str(modules).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&modules).unwrap(),
        expected_modules()
    );
    assert!(modules.ends_with('\n'), "the record's newline is kept");
    assert_eq!(lines[2], "1 ok \"2000-10-10T13:55:36-07:00\"");
    assert_eq!(
        lines[3],
        "2 failed Lambda.ProcessingFailedStatus: ValueError: bad record"
    );

    assert!(daemon.stop().success());
    let mut lines = delivered_lines(&daemon);
    lines.sort();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], "2024-01-01T00:00:00+00:00");
    assert_eq!(
        serde_json::from_str::<Value>(&lines[1]).unwrap(),
        expected_modules()
    );
    assert!(
        daemon
            .log()
            .contains("RuntimeError: boom raised by the plugin"),
        "the log line says it too"
    );
}

#[test]
fn javascript_data_that_is_not_bytes_is_converted_or_failed_loudly() {
    let mut daemon = Daemon::start(&one_record_calls(&plugin("js-sdk")));
    for record in [
        "text\n",
        "json\n",
        "undefined\n",
        "throw\n",
        "crash\n",
        "raw-string\n",
    ] {
        assert!(put_batch(daemon.addr, "t", &[record.to_string()]));
    }
    let errors = by_raw(&wait_for_errors(&daemon, "processing-failed", 4));
    assert_eq!(errors.len(), 4, "{errors:?}");
    // A raw string as data (no SDK) is no bytes to the binding: not delivered
    // empty, but kept in the error output with the reason.
    let emptied = &errors["raw-string\n"];
    assert_eq!(emptied["errorCode"], "Lambda.ProcessingFailedStatus");
    assert!(
        emptied["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("the plugin answered ok with no data for a record that had data"),
        "{emptied}"
    );
    let undefined = &errors["undefined\n"];
    assert_eq!(undefined["errorCode"], "Lambda.ProcessingFailedStatus");
    assert_eq!(
        undefined["errorMessage"],
        "TypeError: ok() data must be bytes, a string or a JSON value, not undefined"
    );
    assert_eq!(errors["throw\n"]["errorMessage"], "Error: bad record");
    let crashed = &errors["crash\n"];
    assert_eq!(crashed["errorCode"], "Lambda.FunctionError");
    let message = crashed["errorMessage"].as_str().unwrap();
    assert!(message.contains("boom thrown by the plugin"), "{message}");
    assert!(
        !message.contains("mozalloc_abort") && !message.contains("<wasm function"),
        "{message}"
    );
    daemon.wait_for_log("must give data as a Uint8Array");
    // `transform test` shows the same.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.ndjson"), "text\nundefined\n").unwrap();
    let js = plugin("js-sdk");
    let cache = daemon.path("data/spool/plugin-cache");
    let out = transform_test(
        dir.path(),
        &[&js],
        "in.ndjson",
        &["--cache-dir", cache.to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(from cache)"), "{stdout}");
    assert!(stdout.contains("0 ok \"text: é\\n\""), "{stdout}");
    assert!(
        stdout.contains("1 failed Lambda.ProcessingFailedStatus: TypeError: ok() data must be"),
        "{stdout}"
    );
    eventually(
        Duration::from_secs(30),
        || format!("`delivered_lines(&daemon).len() >= 2`:\n{}", daemon.log()),
        || (delivered_lines(&daemon).len() >= 2).then_some(()),
    );
    assert!(daemon.stop().success());
    let mut lines = delivered_lines(&daemon);
    lines.sort();
    // The SDK's string is its UTF-8 bytes.
    assert_eq!(lines, ["text: é", "{\"a\":1,\"arrival\":true}"]);
}

#[test]
fn transform_test_runs_a_chain_with_params_for_each_module() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.ndjson"),
        "{\"m\":\"DEBUG x\"}\n{\"m\":\"hi\",\"password\":\"p\"}\nnot json\n",
    )
    .unwrap();
    let (drop, enrich) = (plugin("c-drop"), plugin("js-enrich"));
    let cache = dir.path().join("cache");
    let cache = cache.to_str().unwrap();
    let out = transform_test(
        dir.path(),
        &[&drop, &enrich],
        "in.ndjson",
        &[
            "--params",
            "1:contains=DEBUG",
            "--params",
            "2:add.env=prod",
            "--params",
            "2:redact=password",
            "--cache-dir",
            cache,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].contains("c-drop.wasm"), "{stdout}");
    assert!(lines[1].contains("js-enrich.wasm"), "{stdout}");
    assert_eq!(lines[2], "0 dropped");
    let enriched: String =
        serde_json::from_str(lines[3].strip_prefix("1 ok ").expect(&stdout)).unwrap();
    let enriched: Value = serde_json::from_str(&enriched).unwrap();
    assert_eq!(enriched["env"], "prod");
    assert_eq!(enriched["password"], "[REDACTED]");
    assert!(
        lines[4].starts_with("2 failed Lambda.ProcessingFailedStatus: not JSON"),
        "{stdout}"
    );
    assert!(
        lines[5].starts_with("3 records: 1 ok, 1 dropped, 1 failed; transform took ")
            && lines[5].ends_with(" records/s)"),
        "{stdout}"
    );

    // Params that do not say which module they are for are refused.
    let out = transform_test(
        dir.path(),
        &[&drop, &enrich],
        "in.ndjson",
        &["--params", "contains=DEBUG"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("say which module"));

    // A call that fails prints its message once, not once per record.
    std::fs::write(dir.path().join("crash.ndjson"), "crash\nb\nc\n").unwrap();
    let py = plugin("py_stdlib");
    let out = transform_test(dir.path(), &[&py], "crash.ndjson", &["--cache-dir", cache]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("boom raised by the plugin").count(),
        1,
        "{stdout}"
    );
    assert!(
        stdout.contains("1 failed Lambda.FunctionError: as record 0"),
        "{stdout}"
    );
}

#[test]
fn check_uses_the_compile_cache_and_loads_plugins_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[spool]\ndir = \"{spool}\"\n\
         [[delivery_streams]]\nname = \"py\"\n\
         processors = [{{ type = \"wasm\", module = \"{py}\", params = {{ fields = \"customer\" }} }}]\n\
         destination = {{ type = \"local\", path = \"out\" }}\n\
         [[delivery_streams]]\nname = \"js\"\n\
         processors = [{{ type = \"wasm\", module = \"{js}\" }}]\n\
         destination = {{ type = \"local\", path = \"out\" }}\n",
        spool = dir.path().join("spool").display(),
        py = plugin("py-partition"),
        js = plugin("js-enrich"),
    );
    std::fs::write(dir.path().join("sluice.toml"), config).unwrap();
    let check = || {
        let started = Instant::now();
        let out = sluice(&["check", "--config", "sluice.toml"], dir.path());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    };
    let cold = check();
    let cached: Vec<_> = std::fs::read_dir(dir.path().join("spool/plugin-cache"))
        .expect("check fills the daemon's compile cache")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cached.len(), 2, "{cached:?}");
    let warm = check().min(check());
    eprintln!("sluice check: cold {cold:?}, warm {warm:?}");
    assert!(
        warm < Duration::from_secs(3),
        "check on a warm cache took {warm:?}"
    );
    assert!(warm < cold / 2, "cold {cold:?}, warm {warm:?}");
}

#[test]
fn health_answers_at_once_and_ready_when_every_plugin_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[server]\nlisten = \"{{listen}}\"\n\
         [[delivery_streams]]\nname = \"slow\"\n\
         processors = [{{ type = \"wasm\", module = \"{py}\", params = {{ fields = \"customer\" }} }}]\n\
         destination = {{ type = \"local\", path = \"{{dir}}/out\" }}\n\
         [[delivery_streams]]\nname = \"fast\"\n\
         buffering = {{ interval_seconds = 0 }}\n\
         destination = {{ type = \"local\", path = \"{{dir}}/fast\" }}\n",
        py = plugin("py-partition"),
    );
    // A fresh spool: the Python plugin compiles (seconds).
    let daemon = Daemon::start_listening(dir, &config);
    // The stream without plugins starts in a moment; the other compiles on.
    eventually(
        Duration::from_secs(10),
        || format!("/ready to say `starting: slow`:\n{}", daemon.log()),
        || {
            let ready = http(daemon.addr, "GET", "/ready", &[], b"").unwrap();
            assert_eq!(ready.status, 503, "{}", daemon.log());
            let body = String::from_utf8_lossy(&ready.body).into_owned();
            if body != "starting: slow\n" {
                assert_eq!(body, "starting: fast, slow\n");
            }
            (body == "starting: slow\n").then_some(())
        },
    );
    // The stream without plugins takes records already; the other asks to retry.
    assert!(put_batch(daemon.addr, "fast", &["early\n".to_string()]));
    let refused = firehose(
        daemon.addr,
        "PutRecordBatch",
        &batch_body("slow", &["{\"customer\":\"a\"}\n".to_string()]),
    );
    match refused.status {
        503 => assert_eq!(refused.json()["__type"], "ServiceUnavailableException"),
        // Only if the plugin was loaded in between.
        200 => assert!(daemon.answers("/ready"), "{}", daemon.log()),
        other => panic!("{other}: {}", daemon.log()),
    }
    eventually(
        Duration::from_secs(120),
        || format!("`daemon.answers(\"/ready\")`:\n{}", daemon.log()),
        || daemon.answers("/ready").then_some(()),
    );
    assert!(put_batch(
        daemon.addr,
        "slow",
        &["{\"customer\":\"a\"}\n".to_string()]
    ));
    wait_for_objects(&daemon, &daemon.path("fast"), 1, Duration::from_secs(30));
}

#[test]
fn the_daemon_prunes_the_compile_cache_to_what_it_uses_and_a_bounded_rest() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("spool/plugin-cache");
    std::fs::create_dir_all(&cache).unwrap();
    // Sparse files: their length counts, their blocks are not written.
    let fake = |name: &str, mib: u64, age: Duration| {
        let file = std::fs::File::create(cache.join(name)).unwrap();
        file.set_len(mib * 1024 * 1024).unwrap();
        file.set_modified(std::time::SystemTime::now() - age)
            .unwrap();
    };
    let hour = Duration::from_secs(3600);
    fake("old-build.cwasm", 100, 48 * hour);
    fake("last-build.cwasm", 100, hour);
    fake("x.cwasm.tmp4242", 1, 2 * hour);
    let config = format!(
        "[server]\nlisten = \"{{listen}}\"\n[spool]\ndir = \"{{dir}}/spool\"\n\
         [[delivery_streams]]\nname = \"t\"\n\
         processors = [{{ type = \"wasm\", module = \"{noop}\" }}]\n\
         destination = {{ type = \"local\", path = \"{{dir}}/out\" }}\n",
        noop = plugin("c-noop"),
    );
    let mut daemon = Daemon::start_in(dir, &config);
    daemon.wait_for_log("compiled plugins no stream uses removed from the cache");
    let mut left: Vec<String> = std::fs::read_dir(daemon.path("spool/plugin-cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&"last-build.cwasm".to_string()), "{left:?}");
    assert!(
        left.iter()
            .any(|n| n.ends_with(".cwasm") && n != "last-build.cwasm"),
        "the plugin in use stays: {left:?}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_rust_plugin_built_offline_masks_addresses_and_its_panic_reaches_the_error_record() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.ndjson"),
        "GET / from 203.0.113.42 via 10.1.2.3:80, not v1.2.3.4.5\n",
    )
    .unwrap();
    let mask = plugin("rust-mask-ip");
    let run = |params: &[&str]| {
        let params: Vec<&str> = params.iter().flat_map(|p| ["--params", p]).collect();
        transform_test(dir.path(), &[&mask], "in.ndjson", &params)
    };
    let out = run(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().nth(1),
        Some("0 ok \"GET / from 203.0.113.0 via 10.1.2.0:80, not v1.2.3.4.5\\n\""),
        "{stdout}"
    );
    let out = run(&["keep_octets=1"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("from 203.0.0.0 via 10.0.0.0:80"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&["keep_octets=7"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("init refused the params: keep_octets must be 1, 2 or 3, not \"7\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut daemon = Daemon::start(&one_record_calls(&plugin("rust_panic")));
    for record in ["fine\n", "panic\n"] {
        assert!(put_batch(daemon.addr, "t", &[record.to_string()]));
    }
    let errors = by_raw(&wait_for_errors(&daemon, "processing-failed", 1));
    let panicked = &errors["panic\n"];
    assert_eq!(panicked["errorCode"], "Lambda.FunctionError");
    let message = panicked["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("boom panicked in rust on record"),
        "{message}"
    );
    eventually(
        Duration::from_secs(30),
        || format!("`!delivered_lines(&daemon).is_empty()`:\n{}", daemon.log()),
        || (!delivered_lines(&daemon).is_empty()).then_some(()),
    );
    assert!(daemon.stop().success());
    assert_eq!(delivered_lines(&daemon), ["fine"]);
}
