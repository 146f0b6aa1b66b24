//! A fault-injecting TCP proxy for link tests: it sits between the gateways and the axis on
//! loopback and can refuse new connections (link down), cut every open connection, cut a
//! connection once it has carried N bytes upstream (a cut in the middle of a transfer),
//! delay every chunk, and count the bytes that crossed it (bytes on the wire). TLS passes
//! through untouched, so both ends see a real TLS session break, not a simulated error.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Faults {
    down: AtomicBool,
    delay_micros: AtomicU64,
    /// When non-zero: the next connection to carry this many bytes upstream is cut (once).
    cut_after_up_bytes: AtomicU64,
    /// The same, downstream (server → client).
    cut_after_down_bytes: AtomicU64,
    cuts_done: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    open: Mutex<Vec<TcpStream>>,
    stopped: AtomicBool,
}

/// A running proxy; stops accepting when dropped.
pub struct FaultProxy {
    pub address: SocketAddr,
    faults: Arc<Faults>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let faults = Arc::new(Faults::default());
        let accepting = faults.clone();
        std::thread::spawn(move || {
            for incoming in listener.incoming() {
                if accepting.stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = incoming else { continue };
                if accepting.down.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                connect(&accepting, client, server);
            }
        });
        FaultProxy { address, faults }
    }

    /// `https://127.0.0.1:PORT` of the proxy.
    pub fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    /// Link down: new connections are closed at once and open ones are cut.
    pub fn set_down(&self, down: bool) {
        self.faults.down.store(down, Ordering::SeqCst);
        if down {
            self.cut_all();
        }
    }

    /// Cuts every open connection (both directions).
    pub fn cut_all(&self) {
        if let Ok(mut open) = self.faults.open.lock() {
            for stream in open.drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }

    /// Delays every forwarded chunk by `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.faults
            .delay_micros
            .store(delay.as_micros() as u64, Ordering::SeqCst);
    }

    /// The next connection whose upstream traffic passes `bytes` is cut there, once.
    pub fn cut_once_after_upstream_bytes(&self, bytes: u64) {
        self.faults
            .cut_after_up_bytes
            .store(bytes, Ordering::SeqCst);
    }

    /// The next connection whose downstream traffic passes `bytes` is cut there, once.
    pub fn cut_once_after_downstream_bytes(&self, bytes: u64) {
        self.faults
            .cut_after_down_bytes
            .store(bytes, Ordering::SeqCst);
    }

    /// How many planned cuts have happened.
    pub fn cuts_done(&self) -> u64 {
        self.faults.cuts_done.load(Ordering::SeqCst)
    }

    /// Bytes forwarded (client → server, server → client) so far.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.faults.bytes_up.load(Ordering::SeqCst),
            self.faults.bytes_down.load(Ordering::SeqCst),
        )
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.faults.stopped.store(true, Ordering::SeqCst);
        self.cut_all();
        // Wake the accept loop so it sees `stopped`.
        let _ = TcpStream::connect(self.address);
    }
}

fn connect(faults: &Arc<Faults>, client: TcpStream, server: TcpStream) {
    let handles = [
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    ];
    if let Ok(mut open) = faults.open.lock() {
        open.extend(handles);
    }
    let (client_read, server_write) = (
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    );
    let up = faults.clone();
    std::thread::spawn(move || pump(client_read, server_write, &up, true));
    let down = faults.clone();
    std::thread::spawn(move || pump(server, client, &down, false));
}

fn pump(mut from: TcpStream, mut to: TcpStream, faults: &Faults, upstream: bool) {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut carried: u64 = 0;
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let delay = faults.delay_micros.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_micros(delay));
        }
        carried += read as u64;
        let planned = if upstream {
            &faults.cut_after_up_bytes
        } else {
            &faults.cut_after_down_bytes
        };
        {
            let limit = planned.load(Ordering::SeqCst);
            if limit > 0
                && carried >= limit
                && planned
                    .compare_exchange(limit, 0, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            {
                faults.cuts_done.fetch_add(1, Ordering::SeqCst);
                break;
            }
        }
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
        let counter = if upstream {
            &faults.bytes_up
        } else {
            &faults.bytes_down
        };
        counter.fetch_add(read as u64, Ordering::SeqCst);
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
