//! The filesystem side of Unix-domain listening sockets: what start-up does
//! before binding `unix:PATH` (refuse a path that is not a socket or that a
//! live server answers on, remove a stale socket file), the permission bits
//! it sets after binding, and the removal of the file at a clean exit. All
//! of it runs on the main thread, before the loops start or after they
//! stopped.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Which file a socket path named when wharf bound it (device, inode), so
/// that exit removes that file and not one another process put there since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketIdentity {
    dev: u64,
    ino: u64,
}

/// Makes `path` free for a new socket. Nothing there: nothing to do. A
/// socket file that nobody accepts on (connecting is refused: a server
/// that died without cleaning up) is removed. A live socket, or anything
/// that is not a socket, is left alone and reported.
///
/// # Errors
/// The one-line reason start-up must stop.
pub fn clear_stale(path: &Path) -> Result<(), String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot inspect it: {e}")),
    };
    if !meta.file_type().is_socket() {
        return Err("the path exists and is not a socket; remove it or choose another".into());
    }
    match UnixStream::connect(path) {
        Ok(_) => {
            Err("another server is listening on this socket; stop it or choose another path".into())
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)
            .map_err(|e| format!("cannot remove the stale socket file: {e}")),
        Err(e) => Err(format!("cannot check whether the socket is in use: {e}")),
    }
}

/// Sets the permission bits of the socket file just bound, before it
/// listens (so no client connects under the umask's bits), and returns
/// which file it is.
///
/// # Errors
/// The one-line reason.
pub fn set_mode(path: &Path, mode: u32) -> Result<SocketIdentity, String> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set unix_socket_mode {mode:04o}: {e}"))?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("cannot inspect it: {e}"))?;
    Ok(SocketIdentity {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

/// Removes the socket file at exit if it is still the one wharf created.
pub fn remove(path: &Path, identity: SocketIdentity) {
    let ours = std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.dev() == identity.dev && m.ino() == identity.ino);
    if ours {
        if let Err(e) = std::fs::remove_file(path) {
            log::warn!("cannot remove the socket file {}: {e}", path.display());
        }
    }
}
