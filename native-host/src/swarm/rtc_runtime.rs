//! The tokio runtime webrtc-rs runs on, with one change: every UDP socket it opens
//! gets large kernel buffers. Linux's default receive buffer (about 208 KiB) drops
//! datagrams as soon as a peer sends faster than the reader wakes up; SCTP then
//! waits for a retransmission timeout, and a transfer that should run at wire
//! speed stalls for seconds at a time (measured here: 15 to 130 MB/s on one
//! loopback connection depending on the buffer alone).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

/// The buffer asked for in each direction. The kernel caps it at `net.core.rmem_max`
/// / `wmem_max` unless the process may exceed them.
pub const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

#[derive(Debug)]
pub struct BufferedRuntime(TokioRuntime);

impl BufferedRuntime {
    pub fn shared() -> Arc<dyn Runtime> {
        Arc::new(BufferedRuntime(TokioRuntime))
    }
}

/// Sets a socket buffer, beyond the system's maximum where the process is allowed
/// to (`*BUFFORCE`, root or CAP_NET_ADMIN), else up to it.
fn set_buffer(fd: i32, force: libc::c_int, normal: libc::c_int, bytes: usize) {
    let value = bytes as libc::c_int;
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let ptr = &value as *const libc::c_int as *const libc::c_void;
    // SAFETY: `fd` is an open socket owned by the caller; the option value is a
    // c_int that outlives the call.
    unsafe {
        if libc::setsockopt(fd, libc::SOL_SOCKET, force, ptr, len) != 0 {
            libc::setsockopt(fd, libc::SOL_SOCKET, normal, ptr, len);
        }
    }
}

impl Runtime for BufferedRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.0.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.0.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let fd = socket.as_raw_fd();
        set_buffer(fd, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, SOCKET_BUFFER);
        set_buffer(fd, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, SOCKET_BUFFER);
        self.0.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.0.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.0.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.0.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.0.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.0.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.0.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.0.block_on(future)
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.0.yield_now()
    }

    fn name(&self) -> &'static str {
        "tokio (large socket buffers)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_sockets_get_larger_buffers() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = socket.as_raw_fd();
        let get = |opt| {
            let mut v: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: reading an int option of an open socket into a local.
            unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    &mut v as *mut libc::c_int as *mut libc::c_void,
                    &mut len,
                )
            };
            v as usize
        };
        let before = get(libc::SO_RCVBUF);
        set_buffer(fd, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, SOCKET_BUFFER);
        assert!(get(libc::SO_RCVBUF) > before, "the receive buffer grew");
    }
}
