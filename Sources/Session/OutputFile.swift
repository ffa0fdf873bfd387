import Glibc

/// Opens the files the trace and the report are written to. The monitor runs
/// as root, often with its output in a world-writable directory such as
/// `/tmp`, where another user may have placed a symlink or a file of their
/// own under the expected name. So:
/// - a new file is created with mode 0600: traces hold command lines and paths;
/// - the last component is never followed if it is a symlink (`O_NOFOLLOW`);
/// - an existing file is written only when this user (root) owns it, and a
///   regular file only when it has no other hard link; it is then truncated.
///   Devices and pipes are written as they are (`/dev/null`).
/// The checks are made on the opened descriptor, so a name swapped in between
/// is caught.
public enum OutputFile {
    public static func open(_ path: String) throws(SessionError) -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            // O_NOFOLLOW fails with ELOOP on a symlink: say so plainly.
            if code == ELOOP { throw .unsafeOutput(path, "it is a symbolic link") }
            throw .output(path, code)
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw .output(path, code)
        }
        if let refusal = refusal(info) {
            close(fd)
            throw .unsafeOutput(path, refusal)
        }
        if info.st_mode & S_IFMT == S_IFREG && ftruncate(fd, 0) != 0 {
            let code = errno
            close(fd)
            throw .output(path, code)
        }
        return fd
    }

    /// Why a file the monitor opened must not be written, or nil.
    static func refusal(_ info: stat) -> String? {
        if info.st_uid != geteuid() { return "it is owned by uid \(info.st_uid), not by this user" }
        if info.st_mode & S_IFMT == S_IFREG && info.st_nlink > 1 { return "it has other hard links" }
        return nil
    }
}
