//! Hands a SCMP_ACT_NOTIFY filter's notification fd to the seccomp agent
//! at linux.seccomp.listenerPath, as runc does: one message on a unix
//! stream socket carrying the JSON "container process state" (with
//! listenerMetadata) and, as SCM_RIGHTS, the fd named "seccompFd".

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::MsgFlags;
use serde::{Deserialize, Serialize};

use super::ListenerPlan;
use crate::hooks::HookState;

/// The name of the fd in `fds`, runc's constant.
pub const SECCOMP_FD_NAME: &str = "seccompFd";

/// What the agent receives (runtime-spec `ContainerProcessState`).
#[derive(Debug, Serialize)]
pub struct ProcessState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub fds: Vec<&'a str>,
    pub pid: i32,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub metadata: &'a str,
    pub state: &'a HookState<'a>,
}

/// The agent's view of the message (for agents written against berth,
/// including the one in our tests).
#[derive(Debug, Deserialize)]
pub struct Received {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub fds: Vec<String>,
    pub pid: i32,
    #[serde(default)]
    pub metadata: String,
    pub state: serde_json::Value,
}

/// Connects to the agent and sends it `fd` with the process state.
pub fn send(plan: &ListenerPlan, state: &HookState<'_>, fd: BorrowedFd<'_>) -> io::Result<()> {
    let msg = ProcessState {
        oci_version: state.oci_version,
        fds: vec![SECCOMP_FD_NAME],
        pid: state.pid.unwrap_or(0),
        metadata: &plan.metadata,
        state,
    };
    let bytes = serde_json::to_vec(&msg).map_err(io::Error::other)?;
    let sock = UnixStream::connect(&plan.path)?;
    let sent = crate::console::send_fd(&sock, &bytes, &fd)?;
    if sent != bytes.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "short write to seccomp agent",
        ));
    }
    Ok(())
}

/// The agent's side: accepts one runtime connection on `listener` and
/// returns the message and the notification fd it carried.
pub fn accept(
    listener: &std::os::unix::net::UnixListener,
) -> io::Result<(Received, std::os::fd::OwnedFd)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    let (conn, _) = listener.accept()?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let (len, fd) = {
        let mut iov = [io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )?;
        let mut fd = None;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for f in fds {
                    let owned = crate::sys::fs::own_received_fd(f);
                    fd.get_or_insert(owned);
                }
            }
        }
        (msg.bytes, fd)
    };
    let fd = fd.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no fd in message"))?;
    let received = serde_json::from_slice(&buf[..len])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok((received, fd))
}
