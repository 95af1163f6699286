/// A per-channel affine map with an optional ReLU, y = max(floor, scale[c]·x + shift[c]): a batch
/// norm with its statistics fixed (and the ReLU after it), which a convolution can apply as it
/// copies each input image into its padded buffer, so that the batch norm's output is never
/// written to memory.
public struct ChannelAffine {
    public let scale: UnsafePointer<Float>, shift: UnsafePointer<Float>
    /// 0 for a ReLU, −∞ without one.
    public let floor: Float

    public init(scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, relu: Bool) {
        self.scale = scale
        self.shift = shift
        floor = relu ? 0 : -.infinity
    }

    @inlinable @inline(__always)
    public func callAsFunction(_ x: Float, channel c: Int) -> Float {
        let v = scale[c] * x + shift[c]
        return v < floor ? floor : v  // as the lanes: NaN stays NaN
    }

    @inlinable @inline(__always)
    public func callAsFunction(_ x: Lanes, channel c: Int) -> Lanes {
        let v = x * Lanes(repeating: scale[c]) + Lanes(repeating: shift[c])
        return v.replacing(with: floor, where: v .< floor)
    }

    /// `count` values of channel c from `x` to `y`.
    @inlinable @inline(__always)
    public func apply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, channel c: Int) {
        forEachBlock(0..<count, lanes: { store(self(load(x, $0), channel: c), y, $0) },
                     scalar: { y[$0] = self(x[$0], channel: c) })
    }
}
