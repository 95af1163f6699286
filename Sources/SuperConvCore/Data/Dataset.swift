/// A labelled image data set held in memory: N samples of C x H x W values and their labels.
///
/// Byte images (IDX, CIFAR, uint8 HDF5) are kept as bytes and become floats in [0, 1]
/// (value / 255) when a sample is read; float images are kept as given. Readers validate a
/// file completely (header fields, sizes against the declared counts, label ranges) before
/// anything is kept, so a Dataset is always consistent.
public final class Dataset: @unchecked Sendable {
    public enum Pixels: Sendable {
        case bytes([UInt8])
        case floats([Float])
    }

    public let channels: Int, height: Int, width: Int
    public let classes: Int
    public let labels: [Int32]
    public let pixels: Pixels
    /// Where the samples came from, for messages and specs.
    public let source: String

    public var count: Int { labels.count }
    public var sampleSize: Int { channels * height * width }

    public init(channels: Int, height: Int, width: Int, classes: Int, labels: [Int32], pixels: Pixels,
                source: String) throws {
        let size = channels * height * width
        let stored: Int
        switch pixels {
        case .bytes(let b): stored = b.count
        case .floats(let f): stored = f.count
        }
        guard size > 0, stored == labels.count * size else {
            throw SuperConvError.format("\(source): \(stored) values for \(labels.count) samples of \(channels)x\(height)x\(width)")
        }
        guard classes >= 1 else { throw SuperConvError.format("\(source): no classes") }
        // Class counts cross the C ABI as int32 (sc_dataset_info): a label of INT32_MAX would
        // make one more.
        guard classes <= maximumClasses else {
            throw SuperConvError.format("\(source): \(classes) classes; at most \(maximumClasses) are supported")
        }
        if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= classes }) {
            throw SuperConvError.format("\(source): label \(labels[bad]) of sample \(bad) is outside [0, \(classes))")
        }
        self.channels = channels
        self.height = height
        self.width = width
        self.classes = classes
        self.labels = labels
        self.pixels = pixels
        self.source = source
    }

    /// Copies sample `index` as floats into `destination` (sampleSize values).
    @inline(__always)
    public func copySample(_ index: Int, into destination: UnsafeMutablePointer<Float>) {
        let size = sampleSize, start = index * size
        switch pixels {
        case .bytes(let b):
            b.withUnsafeBufferPointer { bytes in
                for i in 0..<size { destination[i] = Float(bytes[start + i]) * (1 / 255) }
            }
        case .floats(let f):
            f.withUnsafeBufferPointer { destination.update(from: $0.baseAddress! + start, count: size) }
        }
    }
}

extension SuperConvError {
    public static func format(_ message: String) -> SuperConvError { .init(.format, message) }
    public static func io(_ message: String) -> SuperConvError { .init(.io, message) }
}

/// The product of `dims`, or nil when it overflows: headers are untrusted.
func checkedProduct(_ dims: [Int]) -> Int? {
    var product = 1
    for d in dims {
        let (next, overflow) = product.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        product = next
    }
    return product
}

/// The most classes a data set may have (labels below it), which keeps every class count an int32.
public let maximumClasses = Int(Int32.max)

/// The most bytes a reader accepts for the pixels of one data set (4 GiB): a header that
/// declares more is treated as corrupt rather than trusted with an allocation.
let maximumDatasetBytes = 1 << 32
