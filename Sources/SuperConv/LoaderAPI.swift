import SuperConvCore

final class LoaderHandle: HandleObject, SpecifiedHandle {
    let loader: Loader
    let spec: OwnedCString

    init(_ loader: Loader) {
        self.loader = loader
        spec = OwnedCString(loader.configuration.spec.normalized)
    }
}

func resolveLoader(_ handle: OpaquePointer?, _ argument: String = "l") throws -> LoaderHandle {
    try resolveHandle(handle, as: LoaderHandle.self, argument, kind: "sc_loader")
}

@_cdecl("sc_loader_create")
public func sc_loader_create(_ d: OpaquePointer?, _ spec: UnsafePointer<CChar>?,
                             _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    createHandle("sc_loader_create", out) {
        let dataset = try resolveDataset(d).dataset
        return LoaderHandle(try Loader(dataset: dataset, configuration: LoaderConfiguration(spec: specText(spec))))
    }
}

@_cdecl("sc_loader_destroy")
public func sc_loader_destroy(_ l: OpaquePointer?) {
    releaseHandle(l, as: LoaderHandle.self) { $0.loader.pause() }
}

@_cdecl("sc_loader_spec")
public func sc_loader_spec(_ l: OpaquePointer?) -> UnsafePointer<CChar>? {
    handleSpec("sc_loader_spec", l) { try resolveLoader($0) }
}

@_cdecl("sc_loader_info")
public func sc_loader_info(_ l: OpaquePointer?, _ samples: UnsafeMutablePointer<Int64>?,
                           _ batches: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported("sc_loader_info") {
        let loader = try resolveLoader(l).loader
        samples?.pointee = Int64(loader.samplesPerEpoch)
        batches?.pointee = Int64(loader.batchesPerEpoch)
    }
}

@_cdecl("sc_loader_next")
public func sc_loader_next(_ l: OpaquePointer?, _ x: UnsafeMutablePointer<Float>?, _ labels: UnsafeMutablePointer<Int32>?,
                           _ capacity: Int64, _ n: UnsafeMutablePointer<Int64>?, _ epochDone: UnsafeMutablePointer<Int32>?) -> Int32 {
    exported("sc_loader_next") {
        let loader = try resolveLoader(l).loader
        let x = try required(x, "x"), labels = try required(labels, "labels")
        guard capacity >= 0, capacity <= Int64(Int32.max) else {
            throw SuperConvError.invalidArgument("capacity = \(capacity) is out of range")
        }
        let batch = try loader.next(into: x, labels: labels, capacity: Int(capacity))
        n?.pointee = Int64(batch.count)
        epochDone?.pointee = batch.lastOfEpoch ? 1 : 0
    }
}

@_cdecl("sc_loader_copy_normalization")
public func sc_loader_copy_normalization(_ target: OpaquePointer?, _ source: OpaquePointer?) -> Int32 {
    exported("sc_loader_copy_normalization") {
        try resolveLoader(target, "target").loader.copyNormalization(from: try resolveLoader(source, "source").loader)
    }
}

@_cdecl("sc_loader_load_normalization")
public func sc_loader_load_normalization(_ l: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    exported("sc_loader_load_normalization") {
        try Checkpoint.loadNormalization(into: try resolveLoader(l).loader, from: try pathArgument(path))
    }
}
