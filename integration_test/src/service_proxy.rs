//! What a Kubernetes Service does for replicas, on loopback: one address that
//! forwards each TCP connection to one of several backends, skipping those that
//! refuse the connection (a killed replica), so clients keep one URL while
//! replicas die and come back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP forwarder on 127.0.0.1 in front of replicas. Dropping it closes its port.
pub struct ServiceProxy {
    addr: SocketAddr,
    backends: Arc<Mutex<Vec<SocketAddr>>>,
    task: JoinHandle<()>,
}

impl ServiceProxy {
    /// Listens on a free loopback port, with no backends yet (connections are
    /// closed at once until [`ServiceProxy::add_backend`]).
    pub async fn start() -> std::io::Result<ServiceProxy> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let backends: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
        let next = Arc::new(AtomicUsize::new(0));
        let list = backends.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let candidates = list.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let first = next.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(forward(client, candidates, first));
            }
        });
        Ok(ServiceProxy { addr, backends, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a replica, by its URL (`http://127.0.0.1:PORT`) or address.
    pub fn add_backend(&self, url: &str) -> anyhow::Result<()> {
        let addr: SocketAddr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .map_err(|e| anyhow::anyhow!("backend {url} is not http://IP:PORT: {e}"))?;
        self.backends.lock().unwrap_or_else(|e| e.into_inner()).push(addr);
        Ok(())
    }
}

impl Drop for ServiceProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects to the backends in turn from `first` (round robin) and copies both
/// ways with the first that accepts.
async fn forward(mut client: TcpStream, backends: Vec<SocketAddr>, first: usize) {
    for i in 0..backends.len() {
        let addr = backends[(first + i) % backends.len()];
        if let Ok(mut backend) = TcpStream::connect(addr).await {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server(reply: &'static str) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        addr
    }

    async fn read_one(url: &str) -> String {
        let mut s = TcpStream::connect(url.trim_start_matches("http://")).await.unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    }

    #[tokio::test]
    async fn connections_go_round_robin_and_skip_a_backend_that_refuses() {
        let proxy = ServiceProxy::start().await.unwrap();
        let a = echo_server("a").await;
        // A port nothing listens on: bind, note, close.
        let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let b = echo_server("b").await;
        for addr in [a, dead, b] {
            proxy.add_backend(&format!("http://{addr}")).unwrap();
        }
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(read_one(&proxy.url()).await);
        }
        // a; dead skipped to b; b.
        assert_eq!(seen, ["a", "b", "b"]);
        assert!(proxy.add_backend("not an address").is_err());
    }
}
