import SuperConvKernelsPortable

/// The vector type of this module's convolution kernels.
typealias Vector = ChannelBlock.Vector

/// The accumulators of one block of a convolution kernel (direct, or Winograd's multiply step): 4
/// output channels by two vectors of outputs, 8 of the 16 registers. Each step adds its 4 weights, broadcast, times the step's two
/// input vectors, so every input vector loaded feeds 4 channels.
public struct ChannelBlock: ChannelAccumulators {
    public typealias Vector = SIMD8<Float>
    public static var channels: Int { 4 }

    @usableFromInline var a00: Vector, a01: Vector, a10: Vector, a11: Vector, a20: Vector, a21: Vector, a30: Vector, a31: Vector

    /// Each channel's accumulators start at its bias (the block's 4, from `bias` on), or 0.
    @inlinable @inline(__always)
    public init(bias: UnsafePointer<Float>?) {
        func start(_ c: Int) -> Vector { Vector(repeating: bias?[c] ?? 0) }
        (a00, a01, a10, a11) = (start(0), start(0), start(1), start(1))
        (a20, a21, a30, a31) = (start(2), start(2), start(3), start(3))
    }

    /// Adds the step's weights q[0..<4] (one per channel) times the input vectors v0 and v1.
    @inlinable @inline(__always)
    public mutating func add(_ q: UnsafePointer<Float>, _ v0: Vector, _ v1: Vector) {
        var k = Vector(repeating: q[0]); a00.addProduct(k, v0); a01.addProduct(k, v1)
        k = Vector(repeating: q[1]); a10.addProduct(k, v0); a11.addProduct(k, v1)
        k = Vector(repeating: q[2]); a20.addProduct(k, v0); a21.addProduct(k, v1)
        k = Vector(repeating: q[3]); a30.addProduct(k, v0); a31.addProduct(k, v1)
    }

    /// Hands each channel (0..<4) and its two vectors to `store`.
    @inlinable @inline(__always)
    public func store(_ store: (Int, Vector, Vector) -> Void) {
        store(0, a00, a01); store(1, a10, a11); store(2, a20, a21); store(3, a30, a31)
    }
}
