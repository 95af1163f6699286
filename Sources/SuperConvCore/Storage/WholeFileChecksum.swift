import CZlib

/// The first 512 bytes of every HDF5 file the library writes (HDF5's user block, which libhdf5
/// and h5py skip): one text line "superconv-crc32 <8 hex digits> <byte count>\n" over the bytes
/// after it, then zeros. A reader checks it before libhdf5 parses anything, so damage anywhere
/// in the file (object headers, B-trees, attributes such as the specs) is a format error
/// instead of input to the parser. Files without the line (written before it existed, or by
/// other tools) are read on the strength of their datasets' own checksums and the probe.
enum WholeFileChecksum {
    static let size = 512
    private static let tag = "superconv-crc32 "

    /// Writes the line over the first `size` bytes of `file`, for the bytes after them.
    static func seal(_ file: inout [UInt8]) {
        let body = file.count - size
        let crc = file.withUnsafeBufferPointer { crc32(0, $0.baseAddress! + size, UInt32(body)) }
        let line = Array((tag + hex32(UInt32(crc)).dropFirst(2) + " \(body)\n").utf8)
        for i in 0..<size { file[i] = i < line.count ? line[i] : 0 }
    }

    /// Checks a sealed file's line against its bytes; an unsealed file passes unchecked.
    static func verify(_ file: [UInt8], _ path: String) throws {
        guard file.count >= size, file.starts(with: tag.utf8) else { return }
        let line = String(decoding: file.prefix(size).prefix { $0 != 0x0a }, as: UTF8.self)
        let fields = line.dropFirst(tag.count).split(separator: " ")
        guard fields.count == 2, let crc = UInt32(fields[0], radix: 16), let body = Int(fields[1]) else {
            throw SuperConvError.format("\(path) is damaged: its whole-file checksum line '\(line)' is unreadable")
        }
        guard body == file.count - size else {
            throw SuperConvError.format("\(path) is damaged: \(file.count - size) bytes follow the checksum line, which counts \(body) (truncated or extended)")
        }
        let actual = file.withUnsafeBufferPointer { crc32(0, $0.baseAddress! + size, UInt32(body)) }
        guard UInt32(actual) == crc else {
            throw SuperConvError.format("\(path) is damaged: it fails its whole-file checksum")
        }
    }
}
