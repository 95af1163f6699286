import SuperConvCore

final class DatasetHandle: HandleObject, SpecifiedHandle {
    let dataset: Dataset
    let spec: OwnedCString

    init(_ dataset: Dataset, spec: String) {
        self.dataset = dataset
        self.spec = OwnedCString(spec)
    }
}

func resolveDataset(_ handle: OpaquePointer?, _ argument: String = "d") throws -> DatasetHandle {
    try resolveHandle(handle, as: DatasetHandle.self, argument, kind: "sc_dataset")
}

@_cdecl("sc_dataset_open")
public func sc_dataset_open(_ spec: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    createHandle("sc_dataset_open", out) {
        let (dataset, parsed) = try DatasetConfiguration.open(spec: specText(spec))
        return DatasetHandle(dataset, spec: parsed.normalized)
    }
}

@_cdecl("sc_dataset_from_memory")
public func sc_dataset_from_memory(_ x: UnsafePointer<Float>?, _ labels: UnsafePointer<Int32>?, _ n: Int64,
                                   _ shape: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    createHandle("sc_dataset_from_memory", out) {
        let x = try required(x, "x"), labels = try required(labels, "labels")
        let shapeText = String(cString: try required(shape, "shape"))
        let parts = shapeText.split(separator: "x", omittingEmptySubsequences: false).compactMap { Int($0) }
        guard parts.count == 3, parts.allSatisfy({ (1...4096).contains($0) }) else {
            throw SuperConvError.invalidArgument("shape '\(shapeText)' is invalid: expected CxHxW with each in [1, 4096]")
        }
        let size = parts[0] * parts[1] * parts[2]
        guard n >= 1, n <= Int64(Int32.max) / Int64(size) else {
            throw SuperConvError.invalidArgument("n = \(n) samples of \(shapeText) is out of range")
        }
        let values = Array(UnsafeBufferPointer(start: x, count: Int(n) * size))
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw SuperConvError.invalidArgument("x[\(bad)] = \(values[bad]) is not finite")
        }
        let labelValues = Array(UnsafeBufferPointer(start: labels, count: Int(n)))
        if let bad = labelValues.firstIndex(where: { $0 < 0 || Int($0) >= maximumClasses }) {
            throw SuperConvError.invalidArgument("labels[\(bad)] = \(labelValues[bad]) is outside [0, \(maximumClasses))")
        }
        let dataset = try Dataset(channels: parts[0], height: parts[1], width: parts[2],
                                  classes: Int(labelValues.max()!) + 1, labels: labelValues,
                                  pixels: .floats(values), source: "memory")
        return DatasetHandle(dataset, spec: "format=memory shape=\(shapeText) n=\(n)")
    }
}

@_cdecl("sc_dataset_destroy")
public func sc_dataset_destroy(_ d: OpaquePointer?) {
    releaseHandle(d, as: DatasetHandle.self)
}

@_cdecl("sc_dataset_spec")
public func sc_dataset_spec(_ d: OpaquePointer?) -> UnsafePointer<CChar>? {
    handleSpec("sc_dataset_spec", d) { try resolveDataset($0) }
}

@_cdecl("sc_dataset_info")
public func sc_dataset_info(_ d: OpaquePointer?, _ count: UnsafeMutablePointer<Int64>?, _ channels: UnsafeMutablePointer<Int32>?,
                            _ height: UnsafeMutablePointer<Int32>?, _ width: UnsafeMutablePointer<Int32>?,
                            _ classes: UnsafeMutablePointer<Int32>?) -> Int32 {
    exported("sc_dataset_info") {
        let dataset = try resolveDataset(d).dataset
        count?.pointee = Int64(dataset.count)
        channels?.pointee = Int32(dataset.channels)
        height?.pointee = Int32(dataset.height)
        width?.pointee = Int32(dataset.width)
        classes?.pointee = Int32(dataset.classes)
    }
}

@_cdecl("sc_dataset_get")
public func sc_dataset_get(_ d: OpaquePointer?, _ first: Int64, _ count: Int64, _ x: UnsafeMutablePointer<Float>?,
                           _ xLen: Int64, _ labels: UnsafeMutablePointer<Int32>?) -> Int32 {
    exported("sc_dataset_get") {
        let dataset = try resolveDataset(d).dataset
        // Subtraction, not first + count: both come from the caller and may be near INT64_MAX.
        guard first >= 0, count >= 0, first <= Int64(dataset.count), count <= Int64(dataset.count) - first else {
            throw SuperConvError.invalidArgument("\(count) samples from \(first) are outside the \(dataset.count) of the data set")
        }
        if let x {
            try checkLength(xLen, Int(count) * dataset.sampleSize, "x for \(count) samples")
            for i in 0..<Int(count) { dataset.copySample(Int(first) + i, into: x + i * dataset.sampleSize) }
        }
        if let labels { for i in 0..<Int(count) { labels[i] = dataset.labels[Int(first) + i] } }
    }
}
