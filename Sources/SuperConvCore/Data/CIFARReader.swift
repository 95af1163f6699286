import Glibc

/// Reads the CIFAR binary formats (Krizhevsky 2009):
///   CIFAR-10:  data_batch_1.bin ... data_batch_5.bin (train), test_batch.bin (test); records of
///              1 label byte + 3072 pixel bytes (1024 red, 1024 green, 1024 blue: CHW)
///   CIFAR-100: train.bin, test.bin; records of a coarse and a fine label byte + 3072 bytes
/// A file must be a whole number of records, and every label within its range.
enum CIFARReader {
    static let pixelsPerImage = 3 * 32 * 32

    static func read(directory: String, hundred: Bool, split: String, coarse: Bool) throws -> Dataset {
        let files: [String]
        if hundred {
            files = [split == "train" ? "train.bin" : "test.bin"]
        } else {
            files = split == "train" ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        }
        let labelBytes = hundred ? 2 : 1
        let labelIndex = hundred && !coarse ? 1 : 0
        let classes = hundred ? (coarse ? 20 : 100) : 10
        let record = labelBytes + pixelsPerImage
        var labels: [Int32] = []
        var pixels: [UInt8] = []
        for name in files {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            let bytes = try readWholeFile(path)
            guard !bytes.isEmpty, bytes.count % record == 0 else {
                throw SuperConvError.format("\(path): \(bytes.count) bytes is not a whole number of \(record)-byte records")
            }
            let count = bytes.count / record
            labels.reserveCapacity(labels.count + count)
            pixels.reserveCapacity(pixels.count + count * pixelsPerImage)
            for i in 0..<count {
                let label = Int32(bytes[i * record + labelIndex])
                guard label < classes else {
                    throw SuperConvError.format("\(path): record \(i) has label \(label), outside [0, \(classes))")
                }
                if hundred && coarse == false && Int(bytes[i * record]) >= 20 {
                    throw SuperConvError.format("\(path): record \(i) has coarse label \(bytes[i * record]), outside [0, 20)")
                }
                labels.append(label)
                pixels.append(contentsOf: bytes[(i * record + labelBytes)..<((i + 1) * record)])
            }
        }
        return try Dataset(channels: 3, height: 32, width: 32, classes: classes, labels: labels,
                           pixels: .bytes(pixels), source: directory)
    }
}

/// The bytes of a regular file, refusing one of more than `limit` bytes before allocating.
func readWholeFile(_ path: String, limit: Int = maximumDatasetBytes, what: String = "a data set") throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw SuperConvError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var status = stat()
    guard fstat(fd, &status) == 0 else { throw SuperConvError.io("cannot examine \(path): \(String(cString: strerror(errno)))") }
    guard status.st_mode & S_IFMT == S_IFREG else { throw SuperConvError.io("\(path) is not a regular file") }
    let size = Int(status.st_size)
    guard size <= limit else {
        throw SuperConvError.format("\(path): \(size) bytes is more than \(what) may have (\(limit))")
    }
    var bytes = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < size {
        let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
        if got < 0 && errno == EINTR { continue }
        guard got > 0 else {
            throw SuperConvError.io("\(path): read \(done) of \(size) bytes\(got < 0 ? ": " + String(cString: strerror(errno)) : "")")
        }
        done += got
    }
    return bytes
}
