import Glibc
import SuperConvCore

// The message of the last failed call, per thread, as SQLite's sqlite3_errmsg is per
// connection: a C string owned by the library, valid until the next failing call on the same
// thread, freed when the thread exits.

private let errorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

nonisolated(unsafe) private let emptyMessage: UnsafeMutablePointer<CChar> = strdup("")!

func setLastError(_ message: String) {
    let previous = pthread_getspecific(errorKey)
    pthread_setspecific(errorKey, strdup(message))
    free(previous)
}

func lastError() -> UnsafePointer<CChar> {
    guard let message = pthread_getspecific(errorKey) else { return UnsafePointer(emptyMessage) }
    return UnsafePointer(message.assumingMemoryBound(to: CChar.self))
}

/// Runs the body of an exported function: a thrown error becomes its status, and its message,
/// prefixed with the function's name, becomes this thread's last error.
@inline(__always)
func exported(_ function: StaticString, _ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return Status.ok.rawValue
    } catch let error as SuperConvError {
        setLastError("\(function): \(error.message)")
        return error.status.rawValue
    } catch {
        setLastError("\(function): unexpected error: \(error)")
        return Status.internal.rawValue
    }
}

/// A required pointer argument, or an error that names it.
@inline(__always)
func required<T>(_ pointer: T?, _ name: String) throws -> T {
    guard let pointer else { throw SuperConvError.invalidArgument("\(name) is NULL") }
    return pointer
}

/// A spec string argument: NULL reads as the empty spec (all defaults).
func specText(_ spec: UnsafePointer<CChar>?) -> String {
    spec.map { String(cString: $0) } ?? ""
}

/// A C string that lives as long as the object holding it.
final class OwnedCString {
    let pointer: UnsafeMutablePointer<CChar>
    init(_ text: String) { pointer = strdup(text)! }
    deinit { free(pointer) }
    var cString: UnsafePointer<CChar> { UnsafePointer(pointer) }
}
