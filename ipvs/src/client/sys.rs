//! Socket options and namespace switching, through rustix: no `unsafe` here.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use rustix::net::sockopt;

/// Socket buffers asked for (forced as root, which IPVS needs anyway; else
/// capped by `net.core.rmem_max` / `wmem_max`).
const SOCK_BUF: usize = 8 << 20;

/// Ask for extended ACKs, capped error messages and large buffers; returns
/// the receive and send buffer sizes obtained.
pub(crate) fn configure(sock: &netlink_sys::Socket) -> io::Result<(usize, usize)> {
    sock.set_ext_ack(true)?;
    sock.set_cap_ack(true)?;
    let fd = sock.as_fd();
    // Large buffers let a batch have many messages in flight.
    if sockopt::set_socket_recv_buffer_size_force(fd, SOCK_BUF).is_err() {
        sockopt::set_socket_recv_buffer_size(fd, SOCK_BUF)?;
    }
    if sockopt::set_socket_send_buffer_size_force(fd, SOCK_BUF).is_err() {
        sockopt::set_socket_send_buffer_size(fd, SOCK_BUF)?;
    }
    Ok((
        sockopt::socket_recv_buffer_size(fd)?,
        sockopt::socket_send_buffer_size(fd)?,
    ))
}

/// Set the receive timeout (`SO_RCVTIMEO`); `None` blocks forever.
pub(crate) fn set_recv_timeout(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<()> {
    // A zero timeout would mean "forever" to the kernel: wait 1 µs instead.
    let timeout = timeout.map(|d| d.max(Duration::from_micros(1)));
    sockopt::set_socket_timeout(fd, sockopt::Timeout::Recv, timeout)?;
    Ok(())
}

/// Move the calling thread into the network namespace `fd` refers to.
pub(crate) fn setns_net(fd: BorrowedFd<'_>) -> io::Result<()> {
    rustix::thread::move_into_link_name_space(
        fd,
        Some(rustix::thread::LinkNameSpaceType::Network),
    )?;
    Ok(())
}
