//! The control socket, `STATE_DIR/ctl`: a unix stream socket taking one
//! command per line and answering each with one line, `ok` or
//! `error MESSAGE`:
//!
//! - `resize ROWS COLS`: sets the pty's window size (TIOCSWINSZ on the
//!   master; the kernel sends SIGWINCH to the foreground process group).
//!   An error without `--terminal`.
//! - `reopen`: reopens the log file, after an external logrotate moved it.
//!
//! [`client`] is `berth-shim ctl --state-dir DIR WORDS...`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// A line longer than this closes the connection.
const MAX_LINE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error("control socket {path}: {op}: {source}")]
    Socket {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("control socket {path}: {reply}")]
    Refused { path: PathBuf, reply: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtlCommand {
    Resize { rows: u16, cols: u16 },
    Reopen,
}

/// Parses one command line.
pub fn parse(line: &str) -> Result<CtlCommand, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let dim = |s: &str, what: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("resize: {what} {s:?} is not a number 0-65535"))
    };
    match words.as_slice() {
        ["resize", rows, cols] => Ok(CtlCommand::Resize {
            rows: dim(rows, "rows")?,
            cols: dim(cols, "cols")?,
        }),
        ["resize", ..] => Err("usage: resize ROWS COLS".into()),
        ["reopen"] => Ok(CtlCommand::Reopen),
        [] => Err("empty command".into()),
        [w, ..] => Err(format!("unknown command {w:?} (resize, reopen)")),
    }
}

#[derive(Debug)]
struct Conn {
    id: u64,
    stream: UnixStream,
    buf: Vec<u8>,
    dead: bool,
}

#[derive(Debug)]
pub struct CtlServer {
    listener: UnixListener,
    path: PathBuf,
    conns: Vec<Conn>,
    next_id: u64,
}

impl CtlServer {
    pub fn bind(path: &Path) -> Result<Self, CtlError> {
        let err = |op| {
            move |source| CtlError::Socket {
                path: path.to_path_buf(),
                op,
                source,
            }
        };
        let listener = UnixListener::bind(path).map_err(err("bind"))?;
        listener.set_nonblocking(true).map_err(err("nonblocking"))?;
        Ok(CtlServer {
            listener,
            path: path.to_path_buf(),
            conns: Vec::new(),
            next_id: 1,
        })
    }

    pub fn listener(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    pub fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_ok() {
                self.conns.push(Conn {
                    id: self.next_id,
                    stream,
                    buf: Vec::new(),
                    dead: false,
                });
                self.next_id += 1;
            }
        }
    }

    pub fn interests(&self) -> impl Iterator<Item = (u64, BorrowedFd<'_>)> {
        self.conns.iter().map(|c| (c.id, c.stream.as_fd()))
    }

    /// Reads from connection `id`; `run` executes each complete command
    /// and says what to answer.
    pub fn ready(&mut self, id: u64, mut run: impl FnMut(CtlCommand) -> Result<(), String>) {
        let Some(c) = self.conns.iter_mut().find(|c| c.id == id) else {
            return;
        };
        let mut chunk = [0u8; 256];
        match c.stream.read(&mut chunk) {
            Ok(0) => c.dead = true,
            Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => c.dead = true,
        }
        while let Some(nl) = c.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = c.buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line[..nl]);
            let reply = match parse(&line).and_then(&mut run) {
                Ok(()) => "ok\n".to_string(),
                Err(e) => format!("error {e}\n"),
            };
            // The answer is a few bytes on a fresh socket: it fits the
            // buffer, and a client that does not read it loses only it.
            let _ = c.stream.write_all(reply.as_bytes());
        }
        if c.buf.len() > MAX_LINE {
            c.dead = true;
        }
        self.conns.retain(|c| !c.dead);
    }

    pub fn close(&mut self) {
        self.conns.clear();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Sends one command and returns the monitor's `ok` (or its error).
pub fn client(path: &Path, words: &[String]) -> Result<(), CtlError> {
    let err = |op| {
        move |source| CtlError::Socket {
            path: path.to_path_buf(),
            op,
            source,
        }
    };
    let mut s = UnixStream::connect(path).map_err(err("connect"))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .map_err(err("timeout"))?;
    s.write_all(format!("{}\n", words.join(" ")).as_bytes())
        .map_err(err("write"))?;
    let mut reply = String::new();
    BufReader::new(&s)
        .read_line(&mut reply)
        .map_err(err("read"))?;
    let reply = reply.trim_end();
    if reply == "ok" {
        Ok(())
    } else {
        Err(CtlError::Refused {
            path: path.to_path_buf(),
            reply: reply.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_and_errors_say_why() {
        assert_eq!(
            parse("resize 30 100"),
            Ok(CtlCommand::Resize {
                rows: 30,
                cols: 100
            })
        );
        assert_eq!(parse(" reopen "), Ok(CtlCommand::Reopen));
        assert!(parse("resize 30").unwrap_err().contains("usage"));
        assert!(parse("resize x 1").unwrap_err().contains("rows"));
        assert!(parse("kill 9").unwrap_err().contains("unknown command"));
    }
}
