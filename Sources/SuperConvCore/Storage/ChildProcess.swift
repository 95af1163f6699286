import Glibc
import HDF5Probe

/// Runs the building of a file's bytes in a forked child process and brings back the bytes or
/// the error. libhdf5 1.10 does not survive a failed allocation: its property lists are left
/// half-made, every later file fails, then it frees memory twice. Built in a child, a file whose
/// building runs out of memory (or crashes libhdf5) costs the child only; the host's libhdf5 is
/// left as it was. The child is a copy of the host, so the work sees the host's objects as they
/// are at the fork. When no child can be started (the host is at its process limit), the work
/// runs in the process, as it would without this.
enum ChildProcess {
    /// Seconds after which a child that has not finished is ended (by an alarm in the child).
    static let timeout: UInt32 = 600

    static func bytes(of path: String, _ build: () throws -> [UInt8]) throws -> [UInt8] {
        // The pipe is made, the child forked and the writing end closed under the libhdf5 lock,
        // so that no other child (a probe, another save) is forked holding the writing end:
        // the parent would then wait for that child's end too.
        let started: (child: pid_t, reading: Int32)? = HDF5Lock.serialized {
            var ends: [Int32] = [-1, -1]
            guard sc_pipe_cloexec(&ends) == 0 else { return nil }
            let child = sc_fork_helper(timeout)
            if child == 0 {
                close(ends[0])
                _exit(send(to: ends[1], build) ? 0 : 1)
            }
            close(ends[1])
            guard child > 0 else {
                close(ends[0])
                return nil
            }
            return (child, ends[0])
        }
        guard let (child, reading) = started else { return try build() }
        let received = Result { try receive(from: reading, path) }
        close(reading)
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        if case .failure(let error) = received, error is EndOfStream {
            let signal = status & 0x7f
            throw SuperConvError.io("\(path): the process building the file "
                                    + (signal != 0 ? "died (signal \(signal))" : "stopped (exit status \((status >> 8) & 0xff))")
                                    + " before sending it; nothing was written")
        }
        return try received.get()
    }

    /// The child closed the pipe before sending all it announced.
    private struct EndOfStream: Error {}

    /// The child's side: a status byte (sc_status), the length of what follows (8 bytes, little
    /// endian), then the file's bytes or the error's message.
    private static func send(to fd: Int32, _ build: () throws -> [UInt8]) -> Bool {
        let (status, payload): (Status, [UInt8])
        do {
            (status, payload) = (.ok, try build())
        } catch let error as SuperConvError {
            (status, payload) = (error.status, Array(error.message.utf8))
        } catch {
            (status, payload) = (.internal, Array("\(error)".utf8))
        }
        var header = [UInt8(status.rawValue)]
        withUnsafeBytes(of: UInt64(payload.count).littleEndian) { header += $0 }
        return writeAll(fd, header) && writeAll(fd, payload)
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            done += written
        }
        return true
    }

    private static func receive(from fd: Int32, _ path: String) throws -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 9)
        try readExactly(fd, &header, path)
        let length = header[1...].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard length <= UInt64(WholeFileChecksum.size + maximumDatasetBytes) else {
            throw SuperConvError.io("\(path): the process building the file sent a length of \(length) bytes")
        }
        var payload = [UInt8](repeating: 0, count: Int(length))
        try readExactly(fd, &payload, path)
        guard let status = Status(rawValue: Int32(header[0])) else {
            throw SuperConvError.io("\(path): the process building the file sent status \(header[0])")
        }
        guard status == .ok else { throw SuperConvError(status, String(decoding: payload, as: UTF8.self)) }
        return payload
    }

    private static func readExactly(_ fd: Int32, _ buffer: inout [UInt8], _ path: String) throws {
        var done = 0
        let count = buffer.count
        while done < count {
            let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, count - done) }
            if got < 0 && errno == EINTR { continue }
            guard got >= 0 else {
                throw SuperConvError.io("\(path): cannot read the file from the process building it: \(String(cString: strerror(errno)))")
            }
            guard got > 0 else { throw EndOfStream() }
            done += got
        }
    }
}
