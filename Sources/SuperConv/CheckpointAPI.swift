import SuperConvCore

func pathArgument(_ path: UnsafePointer<CChar>?) throws -> String {
    let text = String(cString: try required(path, "path"))
    guard !text.isEmpty else { throw SuperConvError.invalidArgument("path is empty") }
    return text
}

@_cdecl("sc_checkpoint_save")
public func sc_checkpoint_save(_ t: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    exported("sc_checkpoint_save") {
        let trainer = try resolveTrainer(t).usable()
        try Checkpoint.save(trainer, to: try pathArgument(path))
    }
}

@_cdecl("sc_checkpoint_load")
public func sc_checkpoint_load(_ t: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    exported("sc_checkpoint_load") {
        let trainer = try resolveTrainer(t).usable()
        try Checkpoint.load(trainer, from: try pathArgument(path))
    }
}
