//! Serves a fixture repo over git's smart HTTP protocol on a free loopback port,
//! through the `git http-backend` CGI program of the installed git, with a switch
//! that makes the server accept connections and never answer, as a hung remote does.
//!
//! Optionally it requires a token (HTTP basic auth, as git hosts take access
//! tokens), and it can close its port and open it again.
//!
//! Deliberately small: one thread per connection, one request per connection
//! (`Connection: close`), bodies by `Content-Length` or chunked.
//!
//! With [`HttpRemote::serve_tls_with_token`] it speaks https, with a server
//! certificate for `127.0.0.1` signed by a CA made for it (see [`crate::tls`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A smart-HTTP server for one bare repo; stops accepting when dropped.
pub struct HttpRemote {
    addr: SocketAddr,
    name: String,
    root: PathBuf,
    token: Option<String>,
    hanging: Arc<AtomicBool>,
    /// Set to stop the current accept loop (one flag per loop started).
    stop: Arc<AtomicBool>,
    /// Connections accepted while hanging, kept open and unanswered.
    held: Arc<Mutex<Vec<TcpStream>>>,
    /// Requests answered with something else than 401.
    served: Arc<AtomicUsize>,
    /// The certificates, when it speaks https.
    tls: Option<Arc<crate::tls::TlsFiles>>,
}

impl HttpRemote {
    /// Serves the bare repo at `repo` as `http://127.0.0.1:PORT/<its folder name>`,
    /// to anyone.
    pub fn serve(repo: &Path) -> std::io::Result<Self> {
        Self::start_serving(repo, None)
    }

    /// Like [`HttpRemote::serve`], but every request must carry `token` as the
    /// password of HTTP basic auth (any user name), as git hosts take access
    /// tokens; others are answered `401`.
    pub fn serve_with_token(repo: &Path, token: &str) -> std::io::Result<Self> {
        Self::start_serving(repo, Some(token.to_string()))
    }

    /// Like [`HttpRemote::serve_with_token`], over https: the server's certificate
    /// is signed by [`HttpRemote::ca_file`], a CA made for this server alone.
    pub fn serve_tls_with_token(repo: &Path, token: &str) -> std::io::Result<Self> {
        Self::start_serving_with(repo, Some(token.to_string()), Some(crate::tls::TlsFiles::make()?))
    }

    /// The PEM file of the CA that signed the https certificate (`None` over http).
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|t| t.ca_file())
    }

    /// The PEM file of a CA that did not sign the certificate (`None` over http).
    pub fn other_ca_file(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|t| t.other_ca_file())
    }

    fn start_serving(repo: &Path, token: Option<String>) -> std::io::Result<Self> {
        Self::start_serving_with(repo, token, None)
    }

    fn start_serving_with(
        repo: &Path,
        token: Option<String>,
        tls: Option<crate::tls::TlsFiles>,
    ) -> std::io::Result<Self> {
        let root = repo.parent().unwrap_or(Path::new("/")).to_path_buf();
        let name = repo
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let mut remote = HttpRemote {
            addr: listener.local_addr()?,
            name,
            root,
            token,
            hanging: Arc::default(),
            stop: Arc::default(),
            held: Arc::default(),
            served: Arc::default(),
            tls: tls.map(Arc::new),
        };
        remote.accept_on(listener);
        Ok(remote)
    }

    fn accept_on(&mut self, listener: TcpListener) {
        let stop = Arc::new(AtomicBool::new(false));
        self.stop = stop.clone();
        let (h, kept, served) = (self.hanging.clone(), self.held.clone(), self.served.clone());
        let (root, token) = (self.root.clone(), self.token.clone());
        let tls = self.tls.as_ref().map(|t| t.server_config());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::Acquire) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                if h.load(Ordering::Acquire) {
                    kept.lock().unwrap_or_else(|p| p.into_inner()).push(stream);
                    continue;
                }
                let (root, token, served, tls) = (root.clone(), token.clone(), served.clone(), tls.clone());
                std::thread::spawn(move || {
                    let _ = match tls {
                        Some(config) => rustls::ServerConnection::new(config)
                            .map_err(std::io::Error::other)
                            .and_then(|conn| {
                                answer(rustls::StreamOwned::new(conn, stream), &root, token.as_deref(), &served)
                            }),
                        None => answer(stream, &root, token.as_deref(), &served),
                    };
                });
            }
        });
    }

    /// The URL a client clones, fetches and pushes.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/{}", self.addr, self.name)
    }

    /// From now on, accept connections and never answer (`true`), or serve again (`false`).
    pub fn set_hanging(&self, hanging: bool) {
        self.hanging.store(hanging, Ordering::Release);
        if !hanging {
            // Closing the held connections lets their clients fail instead of waiting on.
            self.held.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }

    /// How many connections were accepted and left unanswered.
    pub fn held_connections(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// How many requests were let through to git (not refused for their credentials).
    pub fn served_requests(&self) -> usize {
        self.served.load(Ordering::Acquire)
    }

    /// Closes the port: connections are refused until [`HttpRemote::start`].
    pub fn stop(&mut self) {
        if self.stop.swap(true, Ordering::AcqRel) {
            return;
        }
        // Wakes the accept loop so that it sees `stop` and drops the listener.
        let _ = TcpStream::connect(self.addr);
        // The port is closed once connecting is refused.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while TcpStream::connect(self.addr).is_ok() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Serves again on the same port after [`HttpRemote::stop`].
    pub fn start(&mut self) -> std::io::Result<()> {
        if !self.stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr)?;
        self.accept_on(listener);
        Ok(())
    }
}

impl Drop for HttpRemote {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one request, runs `git http-backend` for it, writes its answer.
fn answer(stream: impl Read + Write, root: &Path, token: Option<&str>, served: &AtomicUsize) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if let Some(token) = token {
        if basic_auth_password(header("authorization").as_deref()).as_deref() != Some(token) {
            let stream = reader.get_mut();
            stream.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return stream.flush();
        }
    }
    served.fetch_add(1, Ordering::AcqRel);
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(&mut reader)?
    } else {
        let len = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        body
    };
    let mut cgi = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        // http-backend accepts pushes only from an authenticated user.
        .env("REMOTE_USER", "fixture")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = cgi.stdin.take() {
        stdin.write_all(&body)?;
    }
    let output = cgi.wait_with_output()?;
    write_cgi_answer(reader.get_mut(), &output.stdout)
}

/// The password of an `Authorization: Basic ...` header.
fn basic_auth_password(header: Option<&str>) -> Option<String> {
    use base64::Engine as _;
    let encoded = header?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, password)| password.to_string())
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if size == 0 {
            // The trailer ends with an empty line.
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(&mut line)?;
    }
}

/// Turns CGI output (headers, a blank line, the body) into an HTTP/1.1 answer.
fn write_cgi_answer(stream: &mut impl Write, output: &[u8]) -> std::io::Result<()> {
    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2)))
        .unwrap_or((output.len(), output.len()));
    let head = String::from_utf8_lossy(&output[..split.0]);
    let body = &output[split.1..];
    let mut status = "200 OK".to_string();
    let mut out = Vec::new();
    for line in head.lines() {
        match line.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some(_) => out.extend_from_slice(format!("{}\r\n", line.trim_end()).as_bytes()),
            None => {}
        }
    }
    let mut answer = format!("HTTP/1.1 {status}\r\n").into_bytes();
    answer.extend_from_slice(&out);
    answer.extend_from_slice(format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes());
    answer.extend_from_slice(body);
    stream.write_all(&answer)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hanging_remote_accepts_and_never_answers() {
        let t = crate::temp("commits:\n  - message: one\n    files: {a: b}\n").unwrap();
        let remote = HttpRemote::serve(&t.path).unwrap();
        remote.set_hanging(true);
        let mut conn =
            TcpStream::connect(remote.url().trim_start_matches("http://").split('/').next().unwrap()).unwrap();
        conn.write_all(b"GET /origin.git/info/refs?service=git-upload-pack HTTP/1.1\r\n\r\n")
            .unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 1];
        let read = conn.read(&mut buf);
        assert!(read.is_err(), "no answer expected, got {read:?}");
        assert_eq!(remote.held_connections(), 1);
    }
}
