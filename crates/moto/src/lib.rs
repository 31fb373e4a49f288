//! A real `moto_server` on 127.0.0.1: started on a free port, ready before `start` returns, killed when
//! dropped. Its account id is `123456789012`; any credentials are accepted.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub const ACCOUNT_ID: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// Credentials moto accepts; they reach nothing real.
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";

const INSTALL_HINT: &str = "install it with `pip install 'moto[server]'`";
const READY_WITHIN: Duration = Duration::from_secs(30);

pub struct Moto {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl Moto {
    /// Starts `moto_server` (found on PATH, or at `$MOTO_SERVER`) and waits until it answers.
    pub fn start() -> anyhow::Result<Moto> {
        Self::start_program(&program(), &[])
    }

    /// A moto that enforces IAM, with `(access key id, secret key)` of a user who may do nothing: for
    /// testing what callers say when AWS denies access.
    pub fn start_with_unprivileged_user() -> anyhow::Result<(Moto, (String, String))> {
        // Authentication starts after this many requests: the two that create the user and its key.
        let moto = Self::start_program(&program(), &[("INITIAL_NO_AUTH_ACTION_COUNT", "2")])?;
        moto.iam("CreateUser&UserName=unprivileged")?;
        let key = moto.iam("CreateAccessKey&UserName=unprivileged")?;
        let field = |name: &str| -> anyhow::Result<String> {
            let start = key
                .find(&format!("<{name}>"))
                .context("moto's CreateAccessKey answer")?
                + name.len()
                + 2;
            Ok(key[start..]
                .split('<')
                .next()
                .unwrap_or_default()
                .to_owned())
        };
        let credentials = (field("AccessKeyId")?, field("SecretAccessKey")?);
        Ok((moto, credentials))
    }

    /// One IAM query-protocol call; moto routes by the service named in the Authorization header.
    fn iam(&self, action: &str) -> anyhow::Result<String> {
        let auth = "AWS4-HMAC-SHA256 Credential=testing/20200101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0";
        let body = format!("Action={action}&Version=2010-05-08");
        let (status, answer) = http(
            self.port,
            "POST",
            "/",
            &[
                ("Authorization", auth),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            &body,
        )?;
        if status != 200 {
            bail!("moto IAM {action} answered HTTP {status}: {answer}");
        }
        Ok(answer)
    }

    fn start_program(program: &Path, env: &[(&str, &str)]) -> anyhow::Result<Moto> {
        let mut last_error = None;
        // A free port can be taken between asking for it and moto binding it: try a few.
        for _ in 0..3 {
            let port = free_port()?;
            let log = tempfile::NamedTempFile::new().context("creating moto's log file")?;
            let child = Command::new(program)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(log.reopen()?)
                .stderr(log.reopen()?)
                .spawn()
                .map_err(|err| match err.kind() {
                    std::io::ErrorKind::NotFound => {
                        anyhow::anyhow!("moto_server not found: {INSTALL_HINT}")
                    }
                    _ => anyhow::anyhow!("starting {}: {err}", program.display()),
                })?;
            let mut moto = Moto { child, port, log };
            match moto.wait_ready() {
                Ok(()) => return Ok(moto),
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.expect("at least one attempt ran"))
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Forgets every resource created so far.
    pub fn reset(&self) -> anyhow::Result<()> {
        let (status, _) = http(self.port, "POST", "/moto-api/reset", &[], "")?;
        if status != 200 {
            bail!("moto reset answered HTTP {status}");
        }
        Ok(())
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "moto_server exited ({status}) before it was ready:\n{}",
                    self.log_tail()
                );
            }
            if http(self.port, "GET", "/moto-api/", &[], "").is_ok_and(|(status, _)| status == 200)
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        bail!(
            "moto_server did not answer within {READY_WITHIN:?}:\n{}",
            self.log_tail()
        )
    }

    /// The last lines moto printed, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

fn program() -> PathBuf {
    std::env::var_os("MOTO_SERVER").map_or_else(|| PathBuf::from("moto_server"), PathBuf::from)
}

/// Status and body of one plain HTTP/1.0 request: enough to drive moto's own API without a client crate.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    )?;
    for (name, value) in headers {
        write!(stream, "{name}: {value}\r\n")?;
    }
    write!(stream, "\r\n{body}")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.get(9..12).context("an HTTP status line")?.parse()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_resets_and_stops() {
        let moto = Moto::start().unwrap();
        let port = moto.port();
        assert_eq!(http(port, "GET", "/moto-api/", &[], "").unwrap().0, 200);
        moto.reset().unwrap();
        drop(moto);
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "moto still listening after drop"
        );
    }

    #[test]
    fn a_missing_program_names_the_install_command() {
        let err = Moto::start_program(Path::new("/nonexistent/moto_server"), &[])
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("pip install 'moto[server]'"),
            "{err}"
        );
    }
}
