//! TLS on the listener (`[server.tls]`): a renewed certificate is served after
//! SIGHUP without a restart, a broken one is refused and the served one stays,
//! and `sluice check` refuses files that do not make a TLS server. The clients
//! (boto3, the AWS CLI, curl) over TLS are in `tests/auth.rs`.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// curl's answer to a GET of `/health` trusting `ca`: the status code, or
/// curl's exit code when the connection failed (60: the certificate is not
/// trusted).
fn health(daemon: &Daemon, ca: &Path) -> String {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(ca)
        .arg(format!("{}/health", daemon.url()))
        .output()
        .expect("run curl");
    match out.status.code() {
        Some(0) => String::from_utf8_lossy(&out.stdout).into_owned(),
        code => format!("curl exit {code:?}"),
    }
}

fn config(certs: &Path) -> String {
    Conf::new()
        .set(
            "server.tls.cert_file",
            certs.join("served.pem").display().to_string(),
        )
        .set(
            "server.tls.key_file",
            certs.join("served.key").display().to_string(),
        )
        .stream(Stream::new("s").at_once())
        .text()
}

#[test]
fn a_renewed_certificate_is_served_after_sighup_and_a_broken_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("ca-1"), dir.path().join("ca-2"));
    for ca in [&first, &second] {
        std::fs::create_dir_all(ca).unwrap();
        make_certificates(ca);
    }
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let serve = |from: &Path| {
        std::fs::copy(from.join("leaf.pem"), certs.join("served.pem")).unwrap();
        std::fs::copy(from.join("leaf.key"), certs.join("served.key")).unwrap();
    };
    serve(&first);
    let config = config(&certs);
    let mut daemon = Daemon::start_in(dir, &config);
    let (ca_1, ca_2) = (first.join("ca.pem"), second.join("ca.pem"));
    assert_eq!(health(&daemon, &ca_1), "200");
    assert_eq!(health(&daemon, &ca_2), "curl exit Some(60)");
    // Plain HTTP to a TLS port gets no answer a client could take for success.
    let plain = http(daemon.addr, "GET", "/health", &[], b"");
    assert!(!matches!(plain, Ok(ref r) if r.status == 200), "{plain:?}");

    // Renewed: the same files, another certificate.
    serve(&second);
    signal(daemon.pid(), "HUP");
    daemon.wait_for_log("TLS certificate and key read again");
    assert_eq!(health(&daemon, &ca_2), "200");
    assert_eq!(health(&daemon, &ca_1), "curl exit Some(60)");

    // Broken: refused, and the certificate served before stays.
    std::fs::write(certs.join("served.pem"), "not a certificate\n").unwrap();
    signal(daemon.pid(), "HUP");
    daemon.wait_for_log("cannot read the TLS certificate again");
    assert_eq!(health(&daemon, &ca_2), "200");

    // Records are taken over TLS throughout.
    let put = Command::new("curl")
        .args(["-s", "-w", "%{http_code}", "-o", "/dev/null", "--cacert"])
        .arg(&ca_2)
        .args(["--data-binary", "over-tls\n"])
        .arg(format!("{}/delivery-streams/s/records", daemon.url()))
        .output()
        .expect("run curl");
    assert_eq!(String::from_utf8_lossy(&put.stdout), "200");
    assert!(daemon.stop().success());
    assert_eq!(
        delivered(&daemon.path("out"))
            .into_keys()
            .collect::<Vec<_>>(),
        ["over-tls\n"]
    );
}

#[test]
fn check_refuses_certificate_files_that_do_not_make_a_server() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let check = |cert: &str, key: &str| {
        let path = dir.path().join("check.toml");
        std::fs::write(
            &path,
            format!(
                "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
                 [[delivery_streams]]\nname = \"s\"\ndestination = {{ type = \"local\", path = \"/tmp/x\" }}\n",
                dir.path().join(cert).display(),
                dir.path().join(key).display()
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(check("leaf.pem", "leaf.key").0, Some(0));
    let (code, err) = check("missing.pem", "leaf.key");
    assert_eq!(code, Some(2));
    assert!(
        err.contains("server.tls") && err.contains("cannot read the certificate chain"),
        "{err}"
    );
    let (code, err) = check("leaf.pem", "leaf.pem");
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot read the private key"), "{err}");
    // A key that is not the certificate's.
    let (code, err) = check("leaf.pem", "ca.key");
    assert_eq!(code, Some(2));
    assert!(err.contains("do not make a TLS server"), "{err}");
}
