//! Running the Slipway services as real processes, the way an operator runs them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};

/// Where the service binaries are: next to the running executable (the cargo
/// target folder), or `SLIPWAY_BIN_DIR`.
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("SLIPWAY_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    // Test executables live in target/<profile>/deps; binaries one level up.
    if dir.ends_with("deps") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}

/// The stock `kubectl` for a cluster: `kubectl --kubeconfig K [--context C]`.
pub fn kubectl(kubeconfig: &Path, context: Option<&str>) -> Command {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig").arg(kubeconfig);
    if let Some(c) = context {
        cmd.args(["--context", c]);
    }
    cmd
}

/// Runs `kubectl` with `args` on a cluster: whether it succeeded, and what it
/// printed (standard output, then standard error).
pub fn run_kubectl(kubeconfig: &Path, args: &[&str]) -> (bool, String) {
    let out = kubectl(kubeconfig, None)
        .args(args)
        .output()
        .expect("kubectl runs (scripts/test installs Debian's kubernetes-client when it is missing)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// One service process started with `serve --config FILE`.
pub struct ServiceProcess {
    pub name: String,
    pub url: String,
    binary: PathBuf,
    config: PathBuf,
    log: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl ServiceProcess {
    /// Starts `<bin_dir>/<binary> serve --config <config>` and waits for its
    /// `listening on http://...` line. Its log (stderr) goes to `log`.
    pub fn start(binary: &str, config: &Path, log: &Path) -> anyhow::Result<Self> {
        Self::start_with_env(binary, config, log, &[])
    }

    /// [`ServiceProcess::start`] with these environment variables set (e.g.
    /// `POD_NAME`, which names a replica in leader election).
    pub fn start_with_env(binary: &str, config: &Path, log: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let path = bin_dir().join(binary);
        if !path.exists() {
            bail!(
                "{} not found: build the services first (`cargo build --workspace --bins`)",
                path.display()
            );
        }
        let mut p = ServiceProcess {
            name: binary.to_string(),
            url: String::new(),
            binary: path,
            config: config.to_path_buf(),
            log: log.to_path_buf(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            child: None,
        };
        p.spawn()?;
        Ok(p)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let mut child = Command::new(&self.binary)
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(url) = line.split("listening on ").nth(1) {
                        let _ = tx.send(url.trim().to_string());
                        sent = true;
                    }
                }
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => {
                self.url = url;
                Ok(())
            }
            Err(_) => {
                self.kill();
                let tail = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(20).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                bail!("{} did not start; last log lines:\n{}", self.name, tail.join("\n"))
            }
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks the process to stop (SIGTERM) and waits up to 10 s, then kills it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            for _ in 0..100 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again with the same config, on the address it had, so
    /// that its peers find it again.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let addr = self.url.trim_start_matches("http://").to_string();
        let config = std::fs::read_to_string(&self.config)?;
        let pinned: String = config
            .lines()
            .map(|l| {
                if l.starts_with("api_bind:") {
                    format!("api_bind: {addr}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(&self.config, pinned)?;
        self.spawn()
    }

    /// Sets an environment variable for the next [`ServiceProcess::restart`].
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// The value of an environment variable the process was started with.
    pub fn env(&self, key: &str) -> Option<&str> {
        self.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Peak resident memory of the process so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// The log file of the process.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
