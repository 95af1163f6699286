import Glibc
import SuperConvCore
import SuperConvKernelsPortable

// Swift cannot read the header's macros without importing it, so these repeat include/superconv.h's
// SC_VERSION_* and SC_ABI_VERSION; Tests/c/test_errors.c fails when they differ.
let versionMajor = 0, versionMinor = 1, versionPatch = 0
let abiVersion: Int32 = 1

nonisolated(unsafe) private let versionString: UnsafeMutablePointer<CChar> =
    strdup("\(versionMajor).\(versionMinor).\(versionPatch)")!

nonisolated(unsafe) private let statusNames: [UnsafeMutablePointer<CChar>] =
    (0...10).map { strdup(Status(rawValue: Int32($0))!.name)! }

nonisolated(unsafe) private let unknownStatusName: UnsafeMutablePointer<CChar> = strdup("SC_ERR_UNKNOWN")!

@_cdecl("sc_version")
public func sc_version() -> UnsafePointer<CChar> { UnsafePointer(versionString) }

@_cdecl("sc_abi_version")
public func sc_abi_version() -> Int32 { abiVersion }

@_cdecl("sc_last_error")
public func sc_last_error() -> UnsafePointer<CChar> { lastError() }

@_cdecl("sc_status_name")
public func sc_status_name(_ status: Int32) -> UnsafePointer<CChar> {
    guard (0...10).contains(status) else { return UnsafePointer(unknownStatusName) }
    return UnsafePointer(statusNames[Int(status)])
}

nonisolated(unsafe) private let blasInfo: UnsafeMutablePointer<CChar> = strdup(blasDescription)!

@_cdecl("sc_blas_info")
public func sc_blas_info() -> UnsafePointer<CChar> { UnsafePointer(blasInfo) }

nonisolated(unsafe) private let instructionSetInfo: UnsafeMutablePointer<CChar> = {
    let supported = InstructionSet.supported.map(\.rawValue).joined(separator: " ")
    let note = InstructionSet.selectionNote.isEmpty ? "" : "; \(InstructionSet.selectionNote)"
    let winograd = InstructionSet.selected == .portable ? ""
        : InstructionSet.winogradSelected ? "; Winograd F(2x2,3x3) where it serves" : "; Winograd off (SUPERCONV_WINOGRAD=0)"
    return strdup("\(InstructionSet.selected.rawValue) (supported: \(supported))\(winograd)\(note)")!
}()

@_cdecl("sc_instruction_set")
public func sc_instruction_set() -> UnsafePointer<CChar> { UnsafePointer(instructionSetInfo) }

@_cdecl("sc_set_num_threads")
public func sc_set_num_threads(_ n: Int32) -> Int32 {
    exported("sc_set_num_threads") { try Threads.set(Int(n)) }
}

@_cdecl("sc_get_num_threads")
public func sc_get_num_threads() -> Int32 { Int32(Threads.count) }
