/// The dimensions of a tensor, rank 0 to 4, kept inline (no heap storage) so that shapes can be
/// built and compared inside a training step without allocating.
/// Activations are NCHW; convolution weights OIHW; linear weights [out, in].
public struct Shape: Equatable, Sendable, CustomStringConvertible {
    public let rank: Int
    private let d: (Int, Int, Int, Int)

    public init(_ d0: Int) { rank = 1; d = (d0, 1, 1, 1) }
    public init(_ d0: Int, _ d1: Int) { rank = 2; d = (d0, d1, 1, 1) }
    public init(_ d0: Int, _ d1: Int, _ d2: Int) { rank = 3; d = (d0, d1, d2, 1) }
    public init(_ d0: Int, _ d1: Int, _ d2: Int, _ d3: Int) { rank = 4; d = (d0, d1, d2, d3) }

    public init?(_ dims: [Int]) {
        switch dims.count {
        case 1: self.init(dims[0])
        case 2: self.init(dims[0], dims[1])
        case 3: self.init(dims[0], dims[1], dims[2])
        case 4: self.init(dims[0], dims[1], dims[2], dims[3])
        default: return nil
        }
    }

    public subscript(axis: Int) -> Int {
        switch axis {
        case 0: return d.0
        case 1: return d.1
        case 2: return d.2
        default: return d.3
        }
    }

    public var dimensions: [Int] { (0..<rank).map { self[$0] } }
    public var count: Int { d.0 * d.1 * d.2 * d.3 }

    /// NCHW accessors for activations.
    public var n: Int { d.0 }
    public var c: Int { d.1 }
    public var h: Int { d.2 }
    public var w: Int { d.3 }

    public static func == (a: Shape, b: Shape) -> Bool { a.rank == b.rank && a.d == b.d }

    public var description: String { dimensions.map(String.init).joined(separator: "x") }
}
