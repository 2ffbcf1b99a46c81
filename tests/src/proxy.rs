//! A TCP proxy in front of the test database that can be switched off
//! (the port refuses connections and open ones are cut, as when the server
//! is down) and on again (on the same port, as when it is back).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// See the [module docs](self).
#[derive(Debug)]
pub struct SwitchableProxy {
    listen: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl SwitchableProxy {
    /// A proxy to the server of `database_url`, listening on a free local
    /// port, switched on.
    pub async fn start(database_url: &str) -> Self {
        let options: sqlx::postgres::PgConnectOptions =
            database_url.parse().expect("a valid DATABASE_URL");
        let upstream = tokio::net::lookup_host((options.get_host(), options.get_port()))
            .await
            .expect("the database host resolves")
            .next()
            .expect("an address");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let listen = listener.local_addr().expect("bound");
        let proxy = Self {
            listen,
            upstream,
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    /// `database_url` pointed at the proxy instead of the server.
    pub fn url(&self, database_url: &str) -> String {
        let (scheme, rest) = database_url.split_once("://").expect("a URL");
        let (auth, host_and_path) = match rest.rsplit_once('@') {
            Some((auth, host)) => (format!("{auth}@"), host),
            None => (String::new(), rest),
        };
        let path = host_and_path
            .find(['/', '?'])
            .map_or("", |at| &host_and_path[at..]);
        format!("{scheme}://{auth}{}{path}", self.listen)
    }

    /// Refuses new connections and cuts the open ones.
    pub fn switch_off(&self) {
        for task in self.tasks.lock().expect("not poisoned").drain(..) {
            task.abort();
        }
    }

    /// Accepts connections again, on the same port.
    pub async fn switch_on(&self) {
        let listener = TcpListener::bind(self.listen)
            .await
            .expect("the proxy's port is free again");
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream;
        let tasks = Arc::clone(&self.tasks);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let piped = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().expect("not poisoned").push(piped);
            }
        });
        self.tasks.lock().expect("not poisoned").push(accept);
    }
}

impl Drop for SwitchableProxy {
    fn drop(&mut self) {
        self.switch_off();
    }
}
