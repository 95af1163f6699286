import SuperConvKernelsPortable

/// The vector type of this module's convolution kernels.
typealias Vector = ChannelBlock.Vector

/// The accumulators of one block of a convolution kernel (direct, or Winograd's multiply step): 8
/// output channels by two vectors of outputs, 16 of the 32 registers. Each step adds its 8
/// weights, broadcast, times the step's two input vectors, so every input vector loaded feeds 8
/// channels.
public struct ChannelBlock: ChannelAccumulators {
    public typealias Vector = SIMD16<Float>
    public static var channels: Int { 8 }

    @usableFromInline var a00: Vector, a01: Vector, a10: Vector, a11: Vector, a20: Vector, a21: Vector, a30: Vector, a31: Vector
    @usableFromInline var a40: Vector, a41: Vector, a50: Vector, a51: Vector, a60: Vector, a61: Vector, a70: Vector, a71: Vector

    /// Each channel's accumulators start at its bias (the block's 8, from `bias` on), or 0.
    @inlinable @inline(__always)
    public init(bias: UnsafePointer<Float>?) {
        func start(_ c: Int) -> Vector { Vector(repeating: bias?[c] ?? 0) }
        (a00, a01, a10, a11) = (start(0), start(0), start(1), start(1))
        (a20, a21, a30, a31) = (start(2), start(2), start(3), start(3))
        (a40, a41, a50, a51) = (start(4), start(4), start(5), start(5))
        (a60, a61, a70, a71) = (start(6), start(6), start(7), start(7))
    }

    /// Adds the tap's weights q[0..<8] (one per channel) times the input vectors v0 and v1.
    @inlinable @inline(__always)
    public mutating func add(_ q: UnsafePointer<Float>, _ v0: Vector, _ v1: Vector) {
        var k = Vector(repeating: q[0]); a00.addProduct(k, v0); a01.addProduct(k, v1)
        k = Vector(repeating: q[1]); a10.addProduct(k, v0); a11.addProduct(k, v1)
        k = Vector(repeating: q[2]); a20.addProduct(k, v0); a21.addProduct(k, v1)
        k = Vector(repeating: q[3]); a30.addProduct(k, v0); a31.addProduct(k, v1)
        k = Vector(repeating: q[4]); a40.addProduct(k, v0); a41.addProduct(k, v1)
        k = Vector(repeating: q[5]); a50.addProduct(k, v0); a51.addProduct(k, v1)
        k = Vector(repeating: q[6]); a60.addProduct(k, v0); a61.addProduct(k, v1)
        k = Vector(repeating: q[7]); a70.addProduct(k, v0); a71.addProduct(k, v1)
    }

    /// Hands each channel (0..<8) and its two vectors to `store`.
    @inlinable @inline(__always)
    public func store(_ store: (Int, Vector, Vector) -> Void) {
        store(0, a00, a01); store(1, a10, a11); store(2, a20, a21); store(3, a30, a31)
        store(4, a40, a41); store(5, a50, a51); store(6, a60, a61); store(7, a70, a71)
    }
}
