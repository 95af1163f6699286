/// Configuration strings: `key=value` pairs separated by white space, e.g.
/// `"depth=56 variant=caffe input=3x32x32"`. A `SpecSchema` lists the valid keys with their
/// defaults; parsing rejects unknown and repeated keys, and the typed accessors reject bad
/// values, each with a message that names the key. Spec strings keep the C ABI stable: a new
/// option is a new key, never a new signature. A key's `help` (its meaning, allowed values and
/// units) is the one description of it: the command's flags show it, and a test holds the
/// header's key tables to the schemas.
public struct SpecSchema: Sendable {
    public struct Key: Sendable {
        public let name: String
        public let defaultValue: String
        public let help: String
        public init(_ name: String, _ defaultValue: String, _ help: String) {
            self.name = name
            self.defaultValue = defaultValue
            self.help = help
        }
    }

    /// What the spec configures, used in messages ("model spec: ...").
    public let subject: String
    public let keys: [Key]

    public init(subject: String, keys: [Key]) {
        self.subject = subject
        self.keys = keys
    }

    public var keyList: String { keys.map(\.name).joined(separator: ", ") }

    public func key(_ name: String) -> Key? { keys.first { $0.name == name } }

    public func parse(_ text: String) throws -> Spec {
        var given: [String: String] = [:]
        for token in text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }) {
            guard let eq = token.firstIndex(of: "=") else {
                throw SuperConvError.invalidArgument(
                    "\(subject) spec: '\(token)' is not a key=value pair; valid keys: \(keyList)")
            }
            let key = String(token[..<eq])
            let value = String(token[token.index(after: eq)...])
            guard keys.contains(where: { $0.name == key }) else {
                throw SuperConvError.invalidArgument(
                    "\(subject) spec: unknown key '\(key)'; valid keys: \(keyList)")
            }
            guard given[key] == nil else {
                throw SuperConvError.invalidArgument("\(subject) spec: key '\(key)' is given twice")
            }
            guard !value.isEmpty else {
                throw SuperConvError.invalidArgument("\(subject) spec: key '\(key)' has an empty value")
            }
            given[key] = value
        }
        return Spec(schema: self, values: keys.map { (key: $0.name, value: given[$0.name] ?? $0.defaultValue) })
    }
}

/// A parsed spec: every key of its schema with the given or the default value.
public struct Spec: Sendable {
    public let schema: SpecSchema
    public private(set) var values: [(key: String, value: String)]

    /// All keys in schema order, defaults filled in: the normalised form a handle reports.
    public var normalized: String { values.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }

    public func string(_ key: String) -> String {
        values.first(where: { $0.key == key })?.value ?? ""
    }

    /// Replaces a value by its canonical spelling so that the normalised spec round-trips.
    public mutating func canonicalize(_ key: String, _ value: String) {
        if let i = values.firstIndex(where: { $0.key == key }) { values[i].value = value }
    }

    func invalid(_ key: String, _ expectation: String) -> SuperConvError {
        .invalidArgument("\(schema.subject) spec: \(key)=\(string(key)) is invalid: \(expectation)")
    }

    public func choice(_ key: String, _ options: [String]) throws -> String {
        let value = string(key)
        guard options.contains(value) else {
            throw invalid(key, "expected one of \(options.joined(separator: "|"))")
        }
        return value
    }

    public func int(_ key: String, in range: ClosedRange<Int>) throws -> Int {
        guard let value = Int(string(key)), range.contains(value) else {
            throw invalid(key, "expected an integer in [\(range.lowerBound), \(range.upperBound)]")
        }
        return value
    }

    public func uint64(_ key: String) throws -> UInt64 {
        guard let value = UInt64(string(key)) else {
            throw invalid(key, "expected a non-negative integer")
        }
        return value
    }

    /// A finite number in `range`; NaN and infinities are always rejected.
    public func double(_ key: String, in range: ClosedRange<Double>, excludingLowerBound: Bool = false) throws -> Double {
        let lower = excludingLowerBound ? "(" : "["
        guard let value = Double(string(key)), value.isFinite, range.contains(value),
              !(excludingLowerBound && value == range.lowerBound) else {
            throw invalid(key, "expected a finite number in \(lower)\(range.lowerBound), \(range.upperBound)]")
        }
        return value
    }

    /// `double`, rounded to float32 for values that are used in float32.
    public func float(_ key: String, in range: ClosedRange<Double>, excludingLowerBound: Bool = false) throws -> Float {
        Float(try double(key, in: range, excludingLowerBound: excludingLowerBound))
    }

    /// Dimensions written `AxBxC`, each in `range`.
    public func dimensions(_ key: String, count: Int, in range: ClosedRange<Int>) throws -> [Int] {
        let parts = string(key).split(separator: "x", omittingEmptySubsequences: false)
        let dims = parts.compactMap { Int($0) }
        guard parts.count == count, dims.count == count, dims.allSatisfy(range.contains) else {
            let example = Array(repeating: "N", count: count).joined(separator: "x")
            throw invalid(key, "expected \(example) with each N in [\(range.lowerBound), \(range.upperBound)]")
        }
        return dims
    }
}
