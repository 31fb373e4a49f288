//! The CA roots the service's HTTPS clients trust. Both reqwest (Benchling) and the AWS SDK load the
//! platform's roots through `rustls-native-certs`, which reads `SSL_CERT_FILE`/`SSL_CERT_DIR` or the
//! usual system paths. The Docker image is `FROM scratch`, so it carries a CA bundle and points
//! `SSL_CERT_FILE` at it; this module lets the image prove it.

pub struct Roots {
    pub count: usize,
    pub errors: Vec<String>,
}

pub fn load() -> Roots {
    let found = rustls_native_certs::load_native_certs();
    Roots {
        count: found.certs.len(),
        errors: found.errors.iter().map(ToString::to_string).collect(),
    }
}

/// `benchling-webhook tls-roots`: the count and its source, or an error saying how to provide roots.
pub fn report() -> anyhow::Result<()> {
    let roots = load();
    let source = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .find_map(|name| Some(format!("{name}={}", std::env::var(name).ok()?)))
        .unwrap_or_else(|| "the system's certificate store".to_owned());
    for error in &roots.errors {
        eprintln!("warning: {error}");
    }
    anyhow::ensure!(
        roots.count > 0,
        "no CA roots loaded from {source}: HTTPS to AWS and Benchling would fail; point SSL_CERT_FILE \
         at a PEM bundle (Debian: apt-get install ca-certificates, /etc/ssl/certs/ca-certificates.crt)"
    );
    println!("{} CA roots loaded from {source}", roots.count);
    Ok(())
}
