import CZlib
import Glibc

/// Reads IDX files (LeCun's MNIST format, also Fashion-MNIST), gzip-compressed or plain:
/// a big-endian header of magic 0x00000803 (unsigned bytes, 3 dimensions: count, rows,
/// columns) for images or 0x00000801 (1 dimension: count) for labels, then the bytes.
enum IDXReader {
    static func read(images imagesPath: String, labels labelsPath: String, classes: Int?) throws -> Dataset {
        let (imageDims, pixels) = try readFile(imagesPath, magic: 0x0000_0803, rank: 3)
        let (labelDims, labelBytes) = try readFile(labelsPath, magic: 0x0000_0801, rank: 1)
        guard imageDims[0] == labelDims[0] else {
            throw SuperConvError.format("\(imagesPath) has \(imageDims[0]) images but \(labelsPath) has \(labelDims[0]) labels")
        }
        let labels = labelBytes.map { Int32($0) }
        let classCount = classes ?? (Int(labels.max() ?? 0) + 1)
        return try Dataset(channels: 1, height: imageDims[1], width: imageDims[2], classes: classCount,
                           labels: labels, pixels: .bytes(pixels), source: imagesPath)
    }

    /// The dimensions and payload of one IDX file, validated: magic, rank, sizes, and that the
    /// file holds exactly the declared bytes.
    static func readFile(_ path: String, magic: UInt32, rank: Int) throws -> ([Int], [UInt8]) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw SuperConvError.io("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard let file = gzopen(path, "rb") else {
            throw SuperConvError.io("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { gzclose(file) }
        // The buffer grows with what the file yields, so a header cannot make it allocate more
        // than the file holds.
        func readExactly(_ count: Int, _ what: String) throws -> [UInt8] {
            var buffer: [UInt8] = []
            while buffer.count < count {
                let chunk = min(count - buffer.count, 1 << 24)
                let start = buffer.count
                buffer.append(contentsOf: repeatElement(0, count: chunk))
                let got = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress! + start, UInt32(chunk)) }
                if got < 0 { throw SuperConvError.format("\(path): corrupt compressed data while reading \(what)") }
                if got == 0 { throw SuperConvError.format("\(path): truncated: \(what) needs \(count) bytes, file ends after \(start)") }
                buffer.removeLast(chunk - Int(got))
            }
            return buffer
        }
        let header = try readExactly(4 + 4 * rank, "the header")
        func word(_ at: Int) -> UInt32 {
            UInt32(header[at]) << 24 | UInt32(header[at + 1]) << 16 | UInt32(header[at + 2]) << 8 | UInt32(header[at + 3])
        }
        guard word(0) == magic else {
            throw SuperConvError.format("\(path): magic number is \(hex32(word(0))), expected \(hex32(magic)) (not an IDX file of this kind)")
        }
        let dims = (0..<rank).map { Int(word(4 + 4 * $0)) }
        guard dims.allSatisfy({ $0 >= 1 }) else {
            throw SuperConvError.format("\(path): dimensions \(dims) include zero")
        }
        // A deflate stream expands at most about 1032:1, a plain file not at all; a header
        // declaring more than the file could hold is corrupt, and is rejected before anything is
        // allocated.
        let expansion = gzdirect(file) == 1 ? 1 : 1032
        guard let bytes = checkedProduct(dims), bytes <= maximumDatasetBytes, bytes <= Int(status.st_size) * expansion else {
            throw SuperConvError.format("\(path): header declares \(dims), more than the \(status.st_size)-byte file can hold")
        }
        let payload = try readExactly(bytes, "\(dims.map(String.init).joined(separator: "x")) values")
        var extra: UInt8 = 0
        guard gzread(file, &extra, 1) == 0 else {
            throw SuperConvError.format("\(path): longer than the \(bytes) bytes its header declares")
        }
        return (dims, payload)
    }
}

/// 0x-prefixed, 8-digit hexadecimal.
func hex32(_ v: UInt32) -> String {
    let digits = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
