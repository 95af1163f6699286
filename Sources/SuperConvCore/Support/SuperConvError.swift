/// The outcome classes of the C ABI (`sc_status`), shared by the core so that an error keeps
/// its class from where it is detected to where it crosses the ABI.
public enum Status: Int32, Sendable {
    case ok = 0
    case invalidArgument = 1
    case shape = 2
    case io = 3
    case format = 4
    case nonFinite = 5
    case outOfMemory = 6
    case state = 7
    case unsupported = 8
    case `internal` = 9
    case interrupted = 10

    /// The C enumerator's name, e.g. "SC_ERR_SHAPE".
    public var name: String {
        switch self {
        case .ok: return "SC_OK"
        case .invalidArgument: return "SC_ERR_INVALID_ARGUMENT"
        case .shape: return "SC_ERR_SHAPE"
        case .io: return "SC_ERR_IO"
        case .format: return "SC_ERR_FORMAT"
        case .nonFinite: return "SC_ERR_NONFINITE"
        case .outOfMemory: return "SC_ERR_OUT_OF_MEMORY"
        case .state: return "SC_ERR_STATE"
        case .unsupported: return "SC_ERR_UNSUPPORTED"
        case .internal: return "SC_ERR_INTERNAL"
        case .interrupted: return "SC_INTERRUPTED"
        }
    }
}

/// Every failure in the core: a status class and a message that names what was wrong,
/// the expected and the actual value.
public struct SuperConvError: Error, CustomStringConvertible, Sendable {
    public let status: Status
    public let message: String

    public init(_ status: Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status.name): \(message)" }

    public static func invalidArgument(_ message: String) -> SuperConvError { .init(.invalidArgument, message) }
    public static func shape(_ message: String) -> SuperConvError { .init(.shape, message) }
    public static func nonFinite(_ message: String) -> SuperConvError { .init(.nonFinite, message) }
    public static func state(_ message: String) -> SuperConvError { .init(.state, message) }
    public static func outOfMemory(_ message: String) -> SuperConvError { .init(.outOfMemory, message) }
    public static func interrupted(_ message: String) -> SuperConvError { .init(.interrupted, message) }
}
