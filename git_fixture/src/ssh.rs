//! Serves fixture repos over ssh on a free loopback port: Debian's OpenSSH
//! server (`/usr/sbin/sshd`) run in the foreground with a config, host key,
//! client key and `authorized_keys` of its own, every login forced through
//! `git-shell`, so the client can run `git-upload-pack` / `git-receive-pack`
//! and nothing else. It logs in only the user running it.
//!
//! Switches for the faults a client must survive: [`SshRemote::stop`] (the port
//! refuses connections) and [`SshRemote::set_hanging`] (the server is paused:
//! connections are accepted by the kernel and never answered).

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// An ssh server for the bare repos on this machine; stopped when dropped.
pub struct SshRemote {
    dir: tempfile::TempDir,
    repo: PathBuf,
    port: u16,
    user: String,
    child: Option<Child>,
}

impl SshRemote {
    /// Starts sshd on a free loopback port, serving the bare repo at `repo`.
    pub fn serve(repo: &Path) -> io::Result<Self> {
        if !Path::new(SSHD).exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{SSHD} not found: install Debian's openssh-server (scripts/test does)"),
            ));
        }
        let dir = tempfile::tempdir()?;
        keygen(&dir.path().join("host_key"))?;
        keygen(&dir.path().join("client_key"))?;
        keygen(&dir.path().join("other_key"))?;
        let client_pub = fs::read_to_string(dir.path().join("client_key.pub"))?;
        fs::write(
            dir.path().join("authorized_keys"),
            format!("restrict,command=\"git-shell -c \\\"$SSH_ORIGINAL_COMMAND\\\"\" {client_pub}"),
        )?;
        let user = run_stdout(Command::new("id").arg("-un"))?.trim().to_string();
        if run_stdout(Command::new("id").arg("-u"))?.trim() == "0" {
            // sshd started by root separates privileges and needs this (the package's
            // service unit creates it at boot).
            fs::create_dir_all("/run/sshd")?;
        }
        let mut remote = SshRemote {
            repo: fs::canonicalize(repo)?,
            dir,
            port: 0,
            user,
            child: None,
        };
        let mut last = None;
        for _ in 0..5 {
            remote.port = free_port()?;
            match remote.start() {
                Ok(()) => return Ok(remote),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("sshd did not start")))
    }

    /// The URL a client clones, fetches and pushes (`ssh://USER@127.0.0.1:PORT/PATH`).
    pub fn url(&self) -> String {
        format!("ssh://{}@127.0.0.1:{}{}", self.user, self.port, self.repo.display())
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The private key the server accepts.
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// A private key the server does not accept.
    pub fn unauthorized_key(&self) -> PathBuf {
        self.dir.path().join("other_key")
    }

    /// The server's host key as a known_hosts line (`[127.0.0.1]:PORT ssh-ed25519 AAAA...`).
    pub fn known_hosts_line(&self) -> String {
        let public = fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap_or_default();
        let key: Vec<&str> = public.split_whitespace().take(2).collect();
        format!("[127.0.0.1]:{} {}\n", self.port, key.join(" "))
    }

    /// A known_hosts line for this server's address with another key of the same type.
    pub fn wrong_known_hosts_line(&self) -> String {
        let public = fs::read_to_string(self.dir.path().join("other_key.pub")).unwrap_or_default();
        let key: Vec<&str> = public.split_whitespace().take(2).collect();
        format!("[127.0.0.1]:{} {}\n", self.port, key.join(" "))
    }

    /// Starts sshd again after [`SshRemote::stop`], on the same port.
    pub fn start(&mut self) -> io::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let config = self.dir.path().join("sshd_config");
        fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\n\
                 HostKey {host_key}\n\
                 PidFile none\n\
                 AuthorizedKeysFile {authorized}\n\
                 StrictModes no\n\
                 UsePAM no\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\n\
                 MaxStartups 200\n\
                 LogLevel ERROR\n",
                host_key = self.dir.path().join("host_key").display(),
                authorized = self.dir.path().join("authorized_keys").display(),
            ),
        )?;
        let log = fs::File::create(self.dir.path().join("sshd.log"))?;
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .arg("-p")
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait()? {
                let log = fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default();
                return Err(io::Error::other(format!("sshd exited ({status}): {log}")));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other("sshd did not listen within 10s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops sshd: connections to its port are refused until [`SshRemote::start`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Pauses the server (`true`): new connections are accepted by the kernel and
    /// never answered, as a hung host does; `false` lets it answer again.
    pub fn set_hanging(&self, hanging: bool) {
        if let Some(child) = &self.child {
            let signal = if hanging { "-STOP" } else { "-CONT" };
            let _ = Command::new("kill").arg(signal).arg(child.id().to_string()).status();
        }
    }
}

impl Drop for SshRemote {
    fn drop(&mut self) {
        self.set_hanging(false);
        self.stop();
    }
}

/// An `ssh-agent` of its own, listening on a Unix socket in a temporary folder,
/// holding the keys given to [`SshAgent::add`]; stopped when dropped.
pub struct SshAgent {
    dir: tempfile::TempDir,
    child: Child,
}

impl SshAgent {
    /// Starts `ssh-agent` in the foreground on a fresh socket.
    pub fn start() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("agent.sock");
        let mut child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!("ssh-agent exited ({status})")));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other("ssh-agent did not listen within 10s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(SshAgent { dir, child })
    }

    /// The socket, for `SSH_AUTH_SOCK`.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("agent.sock")
    }

    /// Adds the private key at `key` (`ssh-add`).
    pub fn add(&self, key: &Path) -> io::Result<()> {
        let out = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", self.socket())
            .stdin(Stdio::null())
            .output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "ssh-add {} failed: {}",
                key.display(),
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) -> io::Result<()> {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "git_fixture", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("ssh-keygen failed for {}", path.display())))
    }
}

fn run_stdout(command: &mut Command) -> io::Result<String> {
    let out = command.output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A port that was free a moment ago (sshd binds it itself).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(args: &[&str], key: &Path, known_hosts: &Path) -> std::process::Output {
        Command::new("git")
            .args(args)
            .env(
                "GIT_SSH_COMMAND",
                format!(
                    "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
                    key.display(),
                    known_hosts.display()
                ),
            )
            .output()
            .unwrap()
    }

    #[test]
    fn serves_a_repo_to_the_authorized_key_only() {
        let t = crate::temp("commits:\n  - message: one\n    files: {a: b}\n").unwrap();
        let remote = SshRemote::serve(&t.path).unwrap();
        let known_hosts = t.scratch("known_hosts");
        fs::write(&known_hosts, remote.known_hosts_line()).unwrap();
        let ok = git(&["ls-remote", &remote.url()], &remote.client_key(), &known_hosts);
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
        assert!(String::from_utf8_lossy(&ok.stdout).contains(&t.head().unwrap()));
        let refused = git(&["ls-remote", &remote.url()], &remote.unauthorized_key(), &known_hosts);
        assert!(!refused.status.success());
    }
}
