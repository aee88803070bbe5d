//! SigV4-verified ingest (`server.auth.mode = "sigv4"`) through the real daemon, with
//! the clients that sign for real: boto3, the AWS CLI and curl `--aws-sigv4`, over
//! plain HTTP and over TLS (`[server.tls]`, a private CA made by the test that each
//! client is told to trust). Each refusal is checked by the exception type the
//! client raises, and each accepted record by what was delivered.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

const KEY: (&str, &str) = ("AKIDSLUICETEST", "s3cr3t/with+odd=chars");
const ORDERS_ONLY: (&str, &str) = ("AKIDORDERSONLY", "another-secret");

/// Streams `logs` and `orders`; one key for all, one for `orders` only (its secret
/// in a file). With `tls`, served over TLS with a certificate from a CA made in
/// `dir/certs`.
fn config(dir: &std::path::Path, tls: bool) -> String {
    let secret_file = dir.join("orders.secret");
    std::fs::write(&secret_file, format!("{}\n", ORDERS_ONLY.1)).unwrap();
    let stream = |name: &str| {
        Stream::new(name)
            .at_once()
            .set("destination.path", format!("{{dir}}/out/{name}"))
    };
    let mut conf = Conf::new();
    if tls {
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        make_certificates(&certs);
        conf = conf
            .set(
                "server.tls.cert_file",
                certs.join("leaf.pem").display().to_string(),
            )
            .set(
                "server.tls.key_file",
                certs.join("leaf.key").display().to_string(),
            );
    }
    conf.set("server.auth.mode", "sigv4")
        .push(
            "server.auth.keys",
            table([
                ("access_key_id", KEY.0.into()),
                ("secret_access_key", KEY.1.into()),
                ("streams", vec!["*"].into()),
            ]),
        )
        .push(
            "server.auth.keys",
            table([
                ("access_key_id", ORDERS_ONLY.0.into()),
                (
                    "secret_access_key_file",
                    secret_file.display().to_string().into(),
                ),
                ("streams", vec!["orders"].into()),
            ]),
        )
        .stream(stream("logs"))
        .stream(stream("orders"))
        .text()
}

/// The CA a client must trust to reach `daemon`, when it serves TLS.
fn ca(daemon: &Daemon) -> Option<String> {
    daemon
        .tls
        .then(|| daemon.path("certs/ca.pem").display().to_string())
}

fn boto(daemon: &Daemon, key: (&str, &str), skew: i64, args: &[&str]) -> Value {
    let (skew, url, ca) = (skew.to_string(), daemon.url(), ca(daemon));
    let mut all = vec!["--key", key.0, key.1, "--skew", &skew];
    if let Some(ca) = &ca {
        all.extend(["--ca", ca]);
    }
    all.push(&url);
    all.extend(args);
    py_json("firehose_client.py", &all)
}

/// curl with `args` against `daemon` (trusting its CA over TLS): the body, a
/// newline and the status code.
fn curl(daemon: &Daemon, args: &[&str]) -> String {
    let mut command = Command::new("curl");
    command.args(["-s", "-w", "\n%{http_code}"]);
    if let Some(ca) = ca(daemon) {
        command.args(["--cacert", &ca]);
    }
    let out = command.args(args).output().expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines delivered under `root`, sorted, once there are `n`.
fn wait_for_lines(root: &std::path::Path, n: usize, timeout: Duration) -> Vec<String> {
    let mut lines = read_until(
        timeout,
        || -> Vec<String> {
            delivered(root)
                .into_iter()
                .flat_map(|(line, count)| std::iter::repeat_n(line.trim_end().to_string(), count))
                .collect()
        },
        |lines| lines.len() >= n,
    );
    lines.sort();
    lines
}

fn sluice_check(dir: &std::path::Path, text: &str) -> std::process::Output {
    let path = dir.join("check.toml");
    std::fs::write(&path, text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap()
}

fn error_code(outcome: &Value) -> &str {
    outcome["error"]["code"].as_str().unwrap_or("no error")
}

#[test]
fn boto3_is_served_with_a_right_key_and_refused_as_aws_refuses_otherwise() {
    boto3_cases(false);
}

#[test]
fn boto3_over_tls_with_a_private_ca() {
    boto3_cases(true);
}

fn boto3_cases(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), tls);
    let mut daemon = Daemon::start_in(dir, &config);

    let ok = boto(&daemon, KEY, 0, &["put-batch", "logs", "signed", "3"]);
    assert_eq!(ok["FailedPutCount"], 0, "{ok}");
    let ok = boto(
        &daemon,
        ORDERS_ONLY,
        0,
        &["put-record", "orders", "order-1\n"],
    );
    assert!(ok["RecordId"].is_string(), "{ok}");

    let wrong_secret = boto(
        &daemon,
        (KEY.0, "not-the-secret"),
        0,
        &["put-record", "logs", "x\n"],
    );
    assert_eq!(
        error_code(&wrong_secret),
        "InvalidSignatureException",
        "{wrong_secret}"
    );
    assert_eq!(wrong_secret["error"]["status"], 400);
    let unknown = boto(
        &daemon,
        ("AKIDUNKNOWN", "x"),
        0,
        &["put-record", "logs", "x\n"],
    );
    assert_eq!(
        error_code(&unknown),
        "UnrecognizedClientException",
        "{unknown}"
    );
    let skewed = boto(&daemon, KEY, -600, &["put-record", "logs", "x\n"]);
    assert_eq!(error_code(&skewed), "InvalidSignatureException", "{skewed}");
    assert!(
        skewed["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Signature expired"),
        "{skewed}"
    );
    let ahead = boto(&daemon, KEY, 600, &["put-record", "logs", "x\n"]);
    assert_eq!(error_code(&ahead), "InvalidSignatureException", "{ahead}");
    // Within five minutes is fine.
    let close = boto(&daemon, KEY, -200, &["put-record", "logs", "close\n"]);
    assert!(close["RecordId"].is_string(), "{close}");

    let denied = boto(&daemon, ORDERS_ONLY, 0, &["put-record", "logs", "x\n"]);
    assert_eq!(error_code(&denied), "AccessDeniedException", "{denied}");
    let denied = boto(&daemon, ORDERS_ONLY, 0, &["describe", "logs"]);
    assert_eq!(error_code(&denied), "AccessDeniedException", "{denied}");
    let listed = boto(&daemon, ORDERS_ONLY, 0, &["list"]);
    assert_eq!(
        listed["DeliveryStreamNames"],
        serde_json::json!(["orders"]),
        "{listed}"
    );
    let listed = boto(&daemon, KEY, 0, &["list"]);
    assert_eq!(
        listed["DeliveryStreamNames"],
        serde_json::json!(["logs", "orders"])
    );

    // Unsigned: refused before the body is read.
    let unsigned = curl(
        &daemon,
        &[
            "-H",
            "X-Amz-Target: Firehose_20150804.PutRecord",
            "-H",
            "Content-Type: application/x-amz-json-1.1",
            "--data-binary",
            r#"{"DeliveryStreamName":"logs","Record":{"Data":"eA=="}}"#,
            &format!("{}/", daemon.url()),
        ],
    );
    assert!(
        unsigned.contains("MissingAuthenticationTokenException") && unsigned.ends_with("\n403"),
        "{unsigned}"
    );
    let unsigned = curl(
        &daemon,
        &[
            "--data-binary",
            "unsigned\n",
            &format!("{}/delivery-streams/logs/records", daemon.url()),
        ],
    );
    assert!(unsigned.ends_with("\n403"), "{unsigned}");

    let logs = wait_for_lines(&daemon.path("out/logs"), 4, Duration::from_secs(30));
    assert_eq!(logs, ["close", "signed-0", "signed-1", "signed-2"]);
    let orders = wait_for_lines(&daemon.path("out/orders"), 1, Duration::from_secs(30));
    assert_eq!(orders, ["order-1"]);
    assert!(daemon.stop().success());
    let log = daemon.log();
    assert!(
        !log.contains(KEY.1) && !log.contains(ORDERS_ONLY.1),
        "a secret was logged:\n{log}"
    );
}

#[test]
fn the_aws_cli_and_curl_sign_requests_that_are_taken() {
    cli_and_curl_cases(false);
}

#[test]
fn the_aws_cli_and_curl_over_tls_with_a_private_ca() {
    cli_and_curl_cases(true);
}

fn cli_and_curl_cases(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), tls);
    let mut daemon = Daemon::start_in(dir, &config);
    let cli = |key: (&str, &str), data: &str| {
        let mut command = Command::new(tools().bin("aws"));
        if let Some(ca) = ca(&daemon) {
            command.args(["--ca-bundle", &ca]);
        }
        command
            .args([
                "firehose",
                "put-record",
                "--endpoint-url",
                &daemon.url(),
                "--region",
                "us-east-1",
                "--delivery-stream-name",
                "logs",
                "--record",
                &format!("{{\"Data\":\"{data}\\n\"}}"),
            ])
            .env("AWS_ACCESS_KEY_ID", key.0)
            .env("AWS_SECRET_ACCESS_KEY", key.1)
            .env("AWS_MAX_ATTEMPTS", "1")
            .env_remove("AWS_PROFILE")
            .output()
            .expect("run the AWS CLI")
    };
    let ok = cli(KEY, "from-cli");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let denied = cli(ORDERS_ONLY, "denied");
    assert!(!denied.status.success());
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(stderr.contains("(AccessDeniedException)"), "{stderr}");
    let wrong = cli((KEY.0, "wrong"), "wrong");
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("(InvalidSignatureException)"), "{stderr}");

    let signed = |key: (&str, &str), line: &str| {
        curl(
            &daemon,
            &[
                "--aws-sigv4",
                "aws:amz:us-east-1:firehose",
                "--user",
                &format!("{}:{}", key.0, key.1),
                "--data-binary",
                line,
                &format!("{}/delivery-streams/logs/records", daemon.url()),
            ],
        )
    };
    let ok = signed(KEY, "from-curl\n");
    assert!(ok.ends_with("\n200"), "{ok}");
    let wrong = signed((KEY.0, "wrong"), "nope\n");
    assert!(
        wrong.contains("InvalidSignatureException") && wrong.ends_with("\n400"),
        "{wrong}"
    );

    let logs = wait_for_lines(&daemon.path("out/logs"), 2, Duration::from_secs(30));
    assert_eq!(logs, ["from-cli", "from-curl"]);
    assert!(daemon.stop().success());
}

#[test]
fn check_refuses_an_open_endpoint_beyond_loopback_and_keys_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let open = "[server]\nlisten = \"0.0.0.0:4573\"\n[[delivery_streams]]\nname = \"s\"\n\
                destination = { type = \"local\", path = \"/tmp/x\" }\n";
    let out = sluice_check(dir.path(), open);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("server.auth.mode") && text.contains("allow_unauthenticated"),
        "{text}"
    );
    let meant = open.replace(
        "[[delivery_streams]]",
        "[server.auth]\nallow_unauthenticated = true\n[[delivery_streams]]",
    );
    assert!(sluice_check(dir.path(), &meant).status.success());

    let bad_keys = "[server]\nlisten = \"127.0.0.1:4573\"\n[server.auth]\nmode = \"sigv4\"\n\
                    [[server.auth.keys]]\naccess_key_id = \"A\"\nsecret_access_key_file = \"/nonexistent/secret\"\nstreams = [\"nope\"]\n\
                    [[delivery_streams]]\nname = \"s\"\ndestination = { type = \"local\", path = \"/tmp/x\" }\n";
    let out = sluice_check(dir.path(), bad_keys);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("server.auth.keys[0].secret_access_key")
            && text.contains("/nonexistent/secret"),
        "{text}"
    );
    assert!(
        text.contains("server.auth.keys[0].streams")
            && text.contains("`nope` is not a delivery stream"),
        "{text}"
    );
    let no_keys = "[server]\n[server.auth]\nmode = \"sigv4\"\n[[delivery_streams]]\nname = \"s\"\n\
                   destination = { type = \"local\", path = \"/tmp/x\" }\n";
    let text = String::from_utf8_lossy(&sluice_check(dir.path(), no_keys).stderr).to_string();
    assert!(text.contains("needs at least one key"), "{text}");
}
