import Glibc

/// Replaces a file atomically with an HDF5 file built in memory, in a child process
/// (`ChildProcess`: libhdf5 does not survive running out of memory): the bytes go to a temporary
/// file in the same folder, which is fsynced, closed, read back and compared, renamed over the
/// target, and the folder fsynced. Every system call's result is checked. A failure before the
/// rename removes the temporary file and leaves the previous file at `path` as it was; a failure
/// to sync the folder after the rename is reported, and the file at `path` is then the new one,
/// complete. Temporary files that a killed process left beside `path` are removed by the next
/// write. A target that exists and is not a regular file (a device, a folder, a FIFO) is refused.
enum AtomicFile {
    static func write(_ path: String, _ body: (HDF5File) throws -> Void) throws {
        try refuseIrregularTarget(path)
        let image = try ChildProcess.bytes(of: path) {
            try HDF5Lock.serialized {
                let file = try HDF5File.create(path)
                try body(file)
                return try file.sealedImage()
            }
        }
        try replace(path, with: image)
    }

    private static func refuseIrregularTarget(_ path: String) throws {
        var status = stat()
        guard stat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw SuperConvError.io("\(path) exists and is not a regular file; refusing to replace it")
        }
    }

    private static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let folder = String(path[..<slash])
        return folder.isEmpty ? "/" : folder
    }

    private static func temporaryPrefix(_ path: String) -> String { path + ".tmp." }

    private static func replace(_ path: String, with bytes: [UInt8]) throws {
        removeAbandonedTemporaries(path)
        let temporary = temporaryPrefix(path) + "\(getpid())"
        do {
            try writeSynced(temporary, bytes)
            try verify(temporary, bytes)
            guard rename(temporary, path) == 0 else { throw failure("cannot rename \(temporary) to \(path)") }
        } catch {
            unlink(temporary)
            throw error
        }
        try syncFolder(folder(of: path))
    }

    private static func failure(_ what: String) -> SuperConvError {
        SuperConvError.io("\(what): \(String(cString: strerror(errno)))")
    }

    private static func writeSynced(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o666)
        guard fd >= 0 else { throw failure("cannot create \(path)") }
        var done = 0
        while done < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                let error = failure("cannot write \(path) (\(done) of \(bytes.count) bytes written)")
                close(fd)
                throw error
            }
            done += written
        }
        guard fsync(fd) == 0 else {
            let error = failure("cannot sync \(path)")
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw failure("cannot close \(path)") }
    }

    /// Reads the file back: what the rename installs is what was meant.
    private static func verify(_ path: String, _ bytes: [UInt8]) throws {
        let stored = try readWholeFile(path, limit: bytes.count, what: "the file just written")
        guard stored == bytes else { throw SuperConvError.io("\(path) does not read back as written") }
    }

    private static func syncFolder(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("cannot sync the folder \(path) (opening it)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw failure("cannot sync the folder \(path)") }
    }

    /// Removes "<path>.tmp.<pid>" files whose process no longer exists (killed mid-write).
    private static func removeAbandonedTemporaries(_ path: String) {
        let folder = folder(of: path)
        let prefix = String(temporaryPrefix(path).split(separator: "/", omittingEmptySubsequences: false).last!)
        guard let directory = opendir(folder) else { return }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            // Read in place: an entry in readdir's buffer may be shorter than `dirent`, so copying
            // the struct (`entry.pointee`) reads past the buffer's end.
            let name = String(cString: (UnsafeRawPointer(entry) + MemoryLayout<dirent>.offset(of: \dirent.d_name)!)
                .assumingMemoryBound(to: CChar.self))
            guard name.hasPrefix(prefix), let pid = Int32(name.dropFirst(prefix.count)) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(folder + "/" + name) }
        }
    }
}
