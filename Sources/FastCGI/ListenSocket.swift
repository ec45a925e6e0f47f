// Finding the listening socket: systemd's LISTEN_FDS (fd 3), fd 0 from a process manager, or a path we bind.
import CFastCGI
import Glibc

/// Where the responder accepts FastCGI connections.
public enum ListenSocket {
    /// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
    static let systemdFirstFD: Int32 = 3

    /// The socket handed over by a process manager, if any: systemd's protocol first
    /// (`LISTEN_PID` equals our pid and `LISTEN_FDS` ≥ 1 → fd 3), then fd 0 if it is a listening socket.
    public static func inherited() -> Int32? {
        if let pid = getenv("LISTEN_PID").map({ String(cString: $0) }), let fds = getenv("LISTEN_FDS").map({ String(cString: $0) }),
           Int32(pid) == getpid(), let count = Int(fds), count >= 1, isListeningSocket(systemdFirstFD) {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
            _ = fcntl(systemdFirstFD, F_SETFD, FD_CLOEXEC)
            return systemdFirstFD
        }
        return isListeningSocket(0) ? 0 : nil
    }

    /// Binds a Unix socket at `path` (replacing a stale one) with permission bits `mode`.
    public static func bind(path: String, mode: mode_t, backlog: Int32 = 1024) throws(ListenError) -> Int32 {
        if access(path, F_OK) == 0 {
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else {
                throw ListenError("\(path) exists and is not a socket; refusing to replace it")
            }
            unlink(path)
        }
        let fd = FCGX_OpenSocket(path, backlog)
        guard fd >= 0 else { throw ListenError("cannot listen on \(path): \(String(cString: strerror(errno)))") }
        guard chmod(path, mode) == 0 else { throw ListenError("cannot chmod \(path): \(String(cString: strerror(errno)))") }
        return fd
    }

    private static func isListeningSocket(_ fd: Int32) -> Bool {
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else { return false }
        var accepting: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0 && accepting == 1
    }
}

/// The listening socket could not be set up.
public struct ListenError: Error, CustomStringConvertible {
    /// What failed.
    public let description: String
    init(_ description: String) { self.description = description }
}
