//! The attach socket, `STATE_DIR/attach`: a unix `SOCK_SEQPACKET` socket
//! (conmon's attach protocol), any number of clients at once.
//!
//! - Server -> client: one packet per chunk of output, byte 0 the stream
//!   ([`STDOUT`] = 1, [`STDERR`] = 2; a pty's output is all [`STDOUT`]),
//!   then the bytes as the container wrote them (at most
//!   [`MAX_CHUNK`]). Only output from the moment of attaching is sent;
//!   the history is in the log file.
//! - Client -> server: each packet is raw stdin bytes. The first client
//!   to send while no one holds stdin becomes its writer; what other
//!   clients send is dropped. When the writer leaves (shuts down its
//!   sending side, sends a zero-length packet, or disconnects) the
//!   container's stdin is closed, as `stdin_once` does, unless
//!   `--leave-stdin-open`; then the next client to send takes it over. A
//!   pty has no separate input to close, so with a terminal it stays open.
//! - A client that does not keep up is disconnected when more than
//!   [`CLIENT_QUEUE_MAX`] bytes wait for it: the container never blocks on
//!   an attach client. When the container has exited and its output is
//!   drained, the server closes every client.
//!
//! [`client`] is the other end: `berth-shim attach --state-dir DIR`.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    bind, connect, listen, recv, send, shutdown, socket, AddressFamily, Backlog, MsgFlags,
    Shutdown, SockFlag, SockType, UnixAddr,
};

pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
/// The most output bytes in one packet (the monitor's read size).
pub const MAX_CHUNK: usize = 8192;
/// Bytes queued for one client before it is dropped as too slow.
pub const CLIENT_QUEUE_MAX: usize = 256 * 1024;
/// Stdin bytes held for the container before the writer is throttled.
const STDIN_BUFFER_MAX: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("attach socket {path}: {op}: {source}")]
    Socket {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

fn sock_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(Errno) -> AttachError + 'a {
    move |e| AttachError::Socket {
        path: path.to_path_buf(),
        op,
        source: e.into(),
    }
}

/// The container's stdin as the clients feed it: buffered, written when
/// the fd is writable, closed once drained after the writer left.
#[derive(Debug)]
pub struct StdinSink {
    fd: Option<OwnedFd>,
    buf: Vec<u8>,
    closing: bool,
    pty: bool,
}

impl StdinSink {
    /// `fd` is the stdin pipe (or the pty master); `None` without `--stdin`.
    pub fn new(fd: Option<OwnedFd>, pty: bool) -> io::Result<Self> {
        if let Some(fd) = &fd {
            set_nonblocking(fd.as_fd())?;
        }
        Ok(StdinSink {
            fd,
            buf: Vec::new(),
            closing: false,
            pty,
        })
    }

    fn accepts(&self) -> bool {
        self.fd.is_some() && !self.closing && self.buf.len() < STDIN_BUFFER_MAX
    }

    fn push(&mut self, data: &[u8]) {
        if self.fd.is_some() && !self.closing {
            self.buf.extend_from_slice(data);
            self.flush();
        }
    }

    /// The writer left: EOF for the container once the buffer is written.
    fn close(&mut self) {
        if !self.pty {
            self.closing = true;
            self.flush();
        }
    }

    /// The fd to poll for POLLOUT, when bytes are waiting.
    pub fn interest(&self) -> Option<BorrowedFd<'_>> {
        self.fd
            .as_ref()
            .filter(|_| !self.buf.is_empty())
            .map(|f| f.as_fd())
    }

    /// Writes what it can without blocking.
    pub fn flush(&mut self) {
        let Some(fd) = &self.fd else { return };
        while !self.buf.is_empty() {
            match nix::unistd::write(fd, &self.buf) {
                Ok(n) => {
                    self.buf.drain(..n);
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    // The container closed its stdin: nothing more can go in.
                    self.buf = Vec::new();
                    self.fd = None;
                    return;
                }
            }
        }
        self.buf = Vec::new();
        if self.closing {
            self.fd = None;
        }
    }
}

#[derive(Debug)]
struct Client {
    id: u64,
    fd: OwnedFd,
    queue: VecDeque<Vec<u8>>,
    queued: usize,
    /// Still reading: the client has not shut down its sending side.
    reading: bool,
    dead: bool,
}

impl Client {
    /// Sends queued packets until the socket would block.
    fn flush(&mut self) {
        while let Some(p) = self.queue.front() {
            match send(
                self.fd.as_raw_fd(),
                p,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(_) => {
                    self.queued -= p.len();
                    self.queue.pop_front();
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
    }

    fn offer(&mut self, packet: &[u8]) {
        if self.dead {
            return;
        }
        if self.queue.is_empty() {
            match send(
                self.fd.as_raw_fd(),
                packet,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(_) => return,
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        if self.queued + packet.len() > CLIENT_QUEUE_MAX {
            eprintln!(
                "berth-shim: attach client {} too slow: disconnected",
                self.id
            );
            self.dead = true;
            return;
        }
        // Behind already: fill the last waiting packet of the same stream
        // first, so a client that lags catches up in big packets instead
        // of a syscall per container write.
        if let Some(last) = self.queue.back_mut() {
            if last[0] == packet[0] && last.len() + packet.len() - 1 <= MAX_CHUNK + 1 {
                last.extend_from_slice(&packet[1..]);
                self.queued += packet.len() - 1;
                return;
            }
        }
        self.queued += packet.len();
        self.queue.push_back(packet.to_vec());
    }
}

/// The listening socket and its clients.
#[derive(Debug)]
pub struct AttachServer {
    listener: OwnedFd,
    path: PathBuf,
    clients: Vec<Client>,
    next_id: u64,
    writer: Option<u64>,
    leave_stdin_open: bool,
    packet: Vec<u8>,
}

impl AttachServer {
    /// Binds and listens at `path` (which must not exist).
    pub fn bind(path: &Path, leave_stdin_open: bool) -> Result<Self, AttachError> {
        let fd = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(sock_err(path, "socket"))?;
        let addr = UnixAddr::new(path).map_err(sock_err(path, "address"))?;
        bind(fd.as_raw_fd(), &addr).map_err(sock_err(path, "bind"))?;
        listen(&fd, Backlog::new(32).unwrap_or(Backlog::MAXCONN))
            .map_err(sock_err(path, "listen"))?;
        Ok(AttachServer {
            listener: fd,
            path: path.to_path_buf(),
            clients: Vec::new(),
            next_id: 1,
            writer: None,
            leave_stdin_open,
            packet: Vec::new(),
        })
    }

    pub fn listener(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    pub fn accept(&mut self) {
        loop {
            match crate::sys::monitor::accept(self.listener.as_fd()) {
                Ok(fd) => {
                    self.clients.push(Client {
                        id: self.next_id,
                        fd,
                        queue: VecDeque::new(),
                        queued: 0,
                        reading: true,
                        dead: false,
                    });
                    self.next_id += 1;
                }
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            }
        }
    }

    /// Each client's fd and what to poll it for.
    pub fn interests<'a>(
        &'a self,
        stdin: &'a StdinSink,
    ) -> impl Iterator<Item = (u64, BorrowedFd<'a>, PollFlags)> + 'a {
        self.clients.iter().map(move |c| {
            let mut ev = PollFlags::empty();
            let is_writer = self.writer == Some(c.id);
            // The writer is throttled while stdin is backed up; others are
            // read (and dropped) so that their leaving is seen.
            if c.reading && (!is_writer || stdin.accepts()) {
                ev |= PollFlags::POLLIN;
            }
            if !c.queue.is_empty() {
                ev |= PollFlags::POLLOUT;
            }
            (c.id, c.fd.as_fd(), ev)
        })
    }

    /// Handles poll results for client `id`.
    pub fn ready(&mut self, id: u64, revents: PollFlags, stdin: &mut StdinSink) {
        let Some(i) = self.clients.iter().position(|c| c.id == id) else {
            return;
        };
        if revents.contains(PollFlags::POLLIN) {
            let mut buf = [0u8; MAX_CHUNK];
            match recv(
                self.clients[i].fd.as_raw_fd(),
                &mut buf,
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(0) => {
                    self.clients[i].reading = false;
                    self.writer_left(id, stdin);
                }
                Ok(n) => {
                    if self.writer.is_none() && stdin.accepts() {
                        self.writer = Some(id);
                    }
                    if self.writer == Some(id) {
                        stdin.push(&buf[..n]);
                    }
                }
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
                Err(_) => self.clients[i].dead = true,
            }
        }
        if revents.contains(PollFlags::POLLOUT) {
            self.clients[i].flush();
        }
        if revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL) {
            self.clients[i].dead = true;
        }
        self.reap(stdin);
    }

    fn writer_left(&mut self, id: u64, stdin: &mut StdinSink) {
        if self.writer == Some(id) {
            self.writer = None;
            if !self.leave_stdin_open {
                stdin.close();
            }
        }
    }

    fn reap(&mut self, stdin: &mut StdinSink) {
        let dead: Vec<u64> = self
            .clients
            .iter()
            .filter(|c| c.dead)
            .map(|c| c.id)
            .collect();
        for id in dead {
            self.writer_left(id, stdin);
        }
        self.clients.retain(|c| !c.dead);
    }

    /// Sends one chunk of output to every client.
    pub fn broadcast(&mut self, stream: u8, data: &[u8], stdin: &mut StdinSink) {
        if self.clients.is_empty() {
            return;
        }
        for chunk in data.chunks(MAX_CHUNK) {
            self.packet.clear();
            self.packet.push(stream);
            self.packet.extend_from_slice(chunk);
            for c in &mut self.clients {
                c.offer(&self.packet);
            }
        }
        self.packet = Vec::new();
        self.reap(stdin);
    }

    /// The end: a last try to send what is queued, then every client is
    /// closed and the socket file removed.
    pub fn close(&mut self) {
        for c in &mut self.clients {
            c.flush();
        }
        self.clients.clear();
        let _ = std::fs::remove_file(&self.path);
    }
}

pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Connects to an attach socket.
pub fn connect_to(path: &Path) -> Result<OwnedFd, AttachError> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(sock_err(path, "socket"))?;
    let addr = UnixAddr::new(path).map_err(sock_err(path, "address"))?;
    connect(fd.as_raw_fd(), &addr).map_err(sock_err(path, "connect"))?;
    Ok(fd)
}

/// `berth-shim attach`: output to our stdout/stderr, our stdin to the
/// container (EOF on it ends the container's stdin, by the rule above);
/// returns when the monitor closes the connection.
pub fn client(path: &Path) -> Result<(), AttachError> {
    let sock = connect_to(path)?;
    let io_err = |op| {
        move |e: io::Error| AttachError::Socket {
            path: path.to_path_buf(),
            op,
            source: e,
        }
    };
    let stdin = io::stdin();
    let mut stdin_open = true;
    let mut buf = vec![0u8; MAX_CHUNK + 1];
    loop {
        let mut fds = vec![PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            r => r.map_err(sock_err(path, "poll"))?,
        };
        let sock_ev = fds[0].revents().unwrap_or(PollFlags::empty());
        let in_ev = fds
            .get(1)
            .and_then(|f| f.revents())
            .unwrap_or(PollFlags::empty());
        drop(fds);
        if sock_ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            match recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    let data = &buf[1..n];
                    let r = if buf[0] == STDERR {
                        io::stderr().write_all(data)
                    } else {
                        let mut out = io::stdout().lock();
                        out.write_all(data).and_then(|()| out.flush())
                    };
                    match r {
                        // Whoever reads our output has gone: so do we.
                        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
                        r => r.map_err(io_err("write output"))?,
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::ECONNRESET) => return Ok(()),
                Err(e) => return Err(sock_err(path, "recv")(e)),
            }
        }
        if in_ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            // Straight from fd 0: std's buffered Stdin could hold bytes poll
            // does not see.
            let n = match nix::unistd::read(stdin.as_fd(), &mut buf[..MAX_CHUNK]) {
                Ok(n) => n,
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => continue,
                Err(e) => return Err(io_err("read stdin")(e.into())),
            };
            if n == 0 {
                stdin_open = false;
                let _ = shutdown(sock.as_raw_fd(), Shutdown::Write);
            } else {
                send(sock.as_raw_fd(), &buf[..n], MsgFlags::MSG_NOSIGNAL)
                    .map_err(sock_err(path, "send"))?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn recv_packet(fd: &OwnedFd) -> Vec<u8> {
        let mut buf = [0u8; MAX_CHUNK + 1];
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).unwrap();
        buf[..n].to_vec()
    }

    fn serve(srv: &mut AttachServer, stdin: &mut StdinSink, rounds: usize) {
        for _ in 0..rounds {
            let ready: Vec<(u64, PollFlags)> = {
                let mut ids = Vec::new();
                let mut fds = Vec::new();
                for (id, fd, ev) in srv.interests(stdin) {
                    ids.push(id);
                    fds.push(PollFd::new(fd, ev));
                }
                poll(&mut fds, PollTimeout::from(200u16)).unwrap();
                ids.into_iter()
                    .zip(&fds)
                    .map(|(id, f)| (id, f.revents().unwrap()))
                    .filter(|(_, r)| !r.is_empty())
                    .collect()
            };
            for (id, r) in ready {
                srv.ready(id, r, stdin);
            }
        }
    }

    #[test]
    fn output_reaches_every_client_and_stdin_comes_from_the_first_writer_only() {
        let dir = std::env::temp_dir().join(format!("berth-shim-attach-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("attach");
        let mut srv = AttachServer::bind(&path, false).unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut stdin = StdinSink::new(Some(w), false).unwrap();
        let a = connect_to(&path).unwrap();
        let b = connect_to(&path).unwrap();
        srv.accept();

        srv.broadcast(STDERR, b"oops", &mut stdin);
        assert_eq!(recv_packet(&a), b"\x02oops");
        assert_eq!(recv_packet(&b), b"\x02oops");

        send(a.as_raw_fd(), b"from a\n", MsgFlags::empty()).unwrap();
        serve(&mut srv, &mut stdin, 1);
        send(b.as_raw_fd(), b"from b\n", MsgFlags::empty()).unwrap();
        serve(&mut srv, &mut stdin, 1);
        // The writer leaving closes the container's stdin.
        shutdown(a.as_raw_fd(), Shutdown::Write).unwrap();
        serve(&mut srv, &mut stdin, 2);
        assert!(stdin.fd.is_none(), "stdin still open after the writer left");
        let mut got = String::new();
        std::fs::File::from(r).read_to_string(&mut got).unwrap();
        assert_eq!(got, "from a\n");

        // A client that only shut down its sending side still gets output.
        let mut sink = StdinSink::new(None, false).unwrap();
        srv.broadcast(STDOUT, b"still here", &mut sink);
        assert_eq!(recv_packet(&a), b"\x01still here");
        srv.close();
        assert!(!path.exists());
        assert_eq!(recv_packet(&b), b"\x01still here");
        assert_eq!(recv_packet(&b), b"", "closed at the end");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
