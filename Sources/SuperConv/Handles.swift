import Glibc
import SuperConvCore

/// Every object behind an opaque C handle. Hosts get `Unmanaged` pointers to these; the registry
/// below is consulted before any pointer is dereferenced, so a destroyed, foreign or mistyped
/// handle gives an error instead of undefined behaviour.
class HandleObject {
    static let liveMagic: UInt64 = 0x5343_4841_4E44_4C45  // "SCHANDLE"
    fileprivate(set) var magic = HandleObject.liveMagic
}

/// The set of live handles, keyed by address, with the Swift type each was created as.
private final class HandleRegistry: @unchecked Sendable {
    // At a stable address: pthread mutexes must not move.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()
    private var live: [UInt: ObjectIdentifier] = [:]

    func withLock<R>(_ body: (inout [UInt: ObjectIdentifier]) -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&live)
    }
}

private let registry = HandleRegistry()

/// Hands `object` to the host as a new handle (retained until `releaseHandle`).
func makeHandle<T: HandleObject>(_ object: T) -> OpaquePointer {
    let pointer = Unmanaged.passRetained(object).toOpaque()
    registry.withLock { $0[UInt(bitPattern: pointer)] = ObjectIdentifier(type(of: object)) }
    return OpaquePointer(pointer)
}

/// The object behind a live handle of type T.
func resolveHandle<T: HandleObject>(_ handle: OpaquePointer?, as type: T.Type, _ argument: String,
                                    kind: String) throws -> T {
    guard let handle else { throw SuperConvError.invalidArgument("\(argument) is NULL") }
    let key = UInt(bitPattern: UnsafeRawPointer(handle))
    guard registry.withLock({ $0[key] == ObjectIdentifier(T.self) }) else {
        throw SuperConvError.invalidArgument(
            "\(argument) is not a live \(kind) handle (destroyed, or not created by sc_\(kind.dropFirst(3))_create)")
    }
    let object = Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    guard object.magic == HandleObject.liveMagic else {
        throw SuperConvError.invalidArgument("\(argument) has a corrupt \(kind) handle tag")
    }
    return object
}

/// Ends a handle: unregisters it, clears its tag and drops the host's reference. NULL and
/// unknown pointers are ignored (destroy functions never fail).
func releaseHandle<T: HandleObject>(_ handle: OpaquePointer?, as type: T.Type, _ cleanup: (T) -> Void = { _ in }) {
    guard let handle else { return }
    let key = UInt(bitPattern: UnsafeRawPointer(handle))
    let wasLive = registry.withLock { live -> Bool in
        guard live[key] == ObjectIdentifier(T.self) else { return false }
        live[key] = nil
        return true
    }
    guard wasLive else { return }
    let unmanaged = Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle))
    let object = unmanaged.takeUnretainedValue()
    object.magic = 0
    cleanup(object)
    unmanaged.release()
}

/// A handle that reports its normalised spec.
protocol SpecifiedHandle: HandleObject {
    var spec: OwnedCString { get }
}

/// The body of every sc_<object>_create: *out is NULL unless the object is made, and out is
/// checked before any work is done.
func createHandle<T: HandleObject>(_ function: StaticString, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                                   _ make: () throws -> T) -> Int32 {
    out?.pointee = nil
    return exported(function) {
        let out = try required(out, "out")
        out.pointee = makeHandle(try make())
    }
}

/// The body of every sc_<object>_spec: the normalised spec, or NULL with the error set.
func handleSpec<T: SpecifiedHandle>(_ function: StaticString, _ handle: OpaquePointer?,
                                    _ resolve: (OpaquePointer?) throws -> T) -> UnsafePointer<CChar>? {
    var result: UnsafePointer<CChar>?
    _ = exported(function) { result = try resolve(handle).spec.cString }
    return result
}
