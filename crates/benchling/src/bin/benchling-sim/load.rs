//! Load generation for `cargo xtask bench`: compiled in release with the simulator, so the generator
//! costs as little as it can of the machine it shares with the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use benchling::sim::{AppCredentials, FIXTURE_EVENTS, Simulator};
use benchling::verify::{self, SignatureHeaders};
use secret::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A delivery and its three signature headers.
type Signed = (Vec<u8>, Vec<(String, String)>);

/// Entry-created deliveries for distinct entries, signed by the simulator at `sim`; each stays valid
/// for five minutes, so they are replayed round-robin.
async fn presign(http: &reqwest::Client, sim: &str) -> anyhow::Result<Vec<Signed>> {
    let (_, template) = FIXTURE_EVENTS
        .iter()
        .find(|(name, _)| *name == "entry-created")
        .context("the entry-created fixture")?;
    let template: Value = serde_json::from_str(template)?;
    let mut pool = Vec::new();
    for n in 0..256 {
        let mut event = template.clone();
        event["message"]["resourceId"] = json!(format!("etr_load{n}"));
        let body = serde_json::to_vec(&event)?;
        let headers: serde_json::Map<String, Value> = http
            .post(format!("{sim}/_sim/sign"))
            .body(body.clone())
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        pool.push((
            body,
            headers
                .into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                .collect(),
        ));
    }
    Ok(pool)
}

/// `connections` loops POSTing to `to` until `duration` or `max` requests; a JSON report of the
/// requests answered 202 (count, seconds, p50/p99 in µs) and of those that were not.
pub async fn run(
    sim: &str,
    to: &str,
    connections: usize,
    duration: Duration,
    max: u64,
) -> anyhow::Result<Value> {
    let (address, path) = split_http_url(to)?;
    let http = reqwest::Client::new();
    let pool: Arc<Vec<Vec<u8>>> = Arc::new(
        presign(&http, sim)
            .await?
            .iter()
            .map(|(body, headers)| request_bytes(&address, &path, body, headers))
            .collect(),
    );
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (address, pool, issued) = (address.clone(), pool.clone(), issued.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), 0u64);
            let mut connection: Option<Connection> = None;
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= max || Instant::now() >= deadline {
                    return (latencies, failures);
                }
                let request = &pool[n as usize % pool.len()];
                let sent = Instant::now();
                let status = match connection.as_mut() {
                    Some(open) => open.exchange(request).await,
                    None => match Connection::open(&address).await {
                        Ok(open) => connection.insert(open).exchange(request).await,
                        Err(err) => Err(err),
                    },
                };
                match status {
                    Ok(202) => {
                        latencies.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32)
                    }
                    Ok(_) => failures += 1,
                    Err(_) => {
                        failures += 1;
                        connection = None;
                    }
                }
            }
        }));
    }
    let (mut latencies, mut failures) = (Vec::new(), 0);
    for task in tasks {
        let (mine, failed) = task.await?;
        latencies.extend(mine);
        failures += failed;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
    };
    Ok(
        json!({"count": latencies.len(), "failures": failures, "seconds": seconds, "p50_us": percentile(0.50), "p99_us": percentile(0.99)}),
    )
}

/// `http://host:port/path` as the address to connect to and the path to request.
fn split_http_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("--to {url:?}: expected a plain http:// URL on this machine"))?;
    Ok(match rest.split_once('/') {
        Some((address, path)) => (address.to_owned(), format!("/{path}")),
        None => (rest.to_owned(), "/".to_owned()),
    })
}

/// One signed delivery as the bytes of an HTTP/1.1 keep-alive request, serialised once up front so the
/// generator spends its share of the machine on sending, not on building requests.
fn request_bytes(address: &str, path: &str, body: &[u8], headers: &[(String, String)]) -> Vec<u8> {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A keep-alive connection that sends one request and reads its whole response at a time.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(address: &str) -> std::io::Result<Connection> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: Vec::with_capacity(4096),
        })
    }

    /// Sends `request` and returns the response's status once all of its body has arrived.
    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.stream.write_all(request).await?;
        self.buffer.clear();
        loop {
            if let Some((status, length)) = response_complete(&self.buffer)? {
                self.buffer.drain(..length);
                return Ok(status);
            }
            let mut chunk = [0u8; 4096];
            let read = self.stream.read(&mut chunk).await?;
            if read == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}

/// The status and total length of the response at the start of `buffer`, once it is all there
/// (the service always sends `content-length`).
fn response_complete(buffer: &[u8]) -> std::io::Result<Option<(u16, usize)>> {
    let Some(head_end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let head = std::str::from_utf8(&buffer[..head_end]).map_err(|_| invalid("response head"))?;
    let status = head
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("status line"))?;
    let body_length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .ok_or_else(|| invalid("content-length"))?;
    let total = head_end + 4 + body_length;
    Ok((buffer.len() >= total).then_some((status, total)))
}

/// Verifications per second on this thread, of a signature made by a fresh simulator.
pub fn verify_speed() -> anyhow::Result<f64> {
    let sim = Simulator::start(AppCredentials {
        client_id: "speed".into(),
        client_secret: SecretString::new("speed"),
    })?;
    let body = b"{}";
    let [(_, id), (_, timestamp), (_, signature)] = sim.signed_headers(body);
    let keys = sim.public_keys();
    let found = SignatureHeaders {
        id: &id,
        timestamp: &timestamp,
        signature: &signature,
    };
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        verify::verify(&found, body, &keys, std::time::SystemTime::now())
            .map_err(|err| anyhow::anyhow!(err))?;
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_complete_only_once_its_whole_body_has_arrived() {
        let response = b"HTTP/1.1 202 Accepted\r\nContent-Length: 4\r\ncontent-type: x\r\n\r\nabcd";
        let head = response.len() - 4;
        assert_eq!(response_complete(&response[..head - 2]).unwrap(), None);
        assert_eq!(response_complete(&response[..head + 3]).unwrap(), None);
        assert_eq!(
            response_complete(response).unwrap(),
            Some((202, response.len()))
        );
        let mut two = response.to_vec();
        two.extend_from_slice(b"HTTP/1.1 403");
        assert_eq!(
            response_complete(&two).unwrap(),
            Some((202, response.len()))
        );
    }

    #[test]
    fn a_response_without_content_length_is_an_error() {
        let err = response_complete(b"HTTP/1.1 200 OK\r\n\r\n").unwrap_err();
        assert!(err.to_string().contains("content-length"), "{err}");
    }

    #[test]
    fn requests_carry_the_signature_headers_and_body_after_the_head() {
        let (address, path) = split_http_url("http://127.0.0.1:8080/prod/event").unwrap();
        assert_eq!(
            (address.as_str(), path.as_str()),
            ("127.0.0.1:8080", "/prod/event")
        );
        let headers = [("webhook-id".to_owned(), "msg_1".to_owned())];
        let bytes = request_bytes(&address, &path, b"{}", &headers);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "POST /prod/event HTTP/1.1\r\nhost: 127.0.0.1:8080\r\ncontent-type: application/json\r\n\
             content-length: 2\r\nwebhook-id: msg_1\r\n\r\n{}"
        );
        assert!(split_http_url("https://example.com/event").is_err());
    }
}
