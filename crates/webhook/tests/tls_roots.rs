//! `benchling-webhook tls-roots`: what the Docker image runs to show its TLS clients have CA roots.

use std::process::Command;

const DEBIAN_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn tls_roots(cert_file: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_benchling-webhook"))
        .arg("tls-roots")
        .env_clear()
        .env("SSL_CERT_FILE", cert_file)
        .output()
        .unwrap()
}

#[test]
fn counts_every_certificate_of_the_bundle_it_is_pointed_at() {
    let bundle = std::fs::read_to_string(DEBIAN_BUNDLE)
        .expect("the Debian CA bundle (apt-get install ca-certificates)");
    let in_file = bundle.matches("-----BEGIN CERTIFICATE-----").count();
    let output = tls_roots(DEBIAN_BUNDLE);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("{in_file} CA roots loaded from SSL_CERT_FILE={DEBIAN_BUNDLE}\n")
    );
}

#[test]
fn no_roots_is_an_error_that_says_how_to_provide_them() {
    let empty = tempfile::NamedTempFile::new().unwrap();
    let output = tls_roots(empty.path().to_str().unwrap());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("no CA roots loaded from SSL_CERT_FILE=")
            && stderr.contains("ca-certificates"),
        "{stderr}"
    );
}
