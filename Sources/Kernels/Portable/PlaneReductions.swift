// Reductions over one plane (up to a few thousand elements): eight float partial sums, which
// break the add chain's latency, returned in double for the caller to accumulate across planes.

/// Σ x[i].
public func sum(_ x: UnsafePointer<Float>, count: Int) -> Double {
    var acc = Lanes()
    var i = 0
    while i + 8 <= count { acc += load(x, i); i += 8 }
    var s = Double(acc.sum())
    while i < count { s += Double(x[i]); i += 1 }
    return s
}

/// (Σ (x[i] − shift), Σ (x[i] − shift)²) in one pass.
public func shiftedSums(_ x: UnsafePointer<Float>, count: Int, shift: Float) -> (Double, Double) {
    var s1 = Lanes(), s2 = Lanes()
    let k = Lanes(repeating: shift)
    var i = 0
    while i + 8 <= count { let d = load(x, i) - k; s1 += d; s2 += d * d; i += 8 }
    var (a, b) = (Double(s1.sum()), Double(s2.sum()))
    while i < count { let d = Double(x[i] - shift); a += d; b += d * d; i += 1 }
    return (a, b)
}

/// Where a ReLU after a layer let its gradient through: everywhere (no ReLU); where
/// scale·x + shift > 0, the ReLU's input recomputed from the layer's input x with the very
/// operations the forward used (so the same elements, bit for bit, without reading the output
/// back); or where a stored output is > 0.
public enum ReLUMask {
    case none
    case recomputed(scale: Float, shift: Float)
    case stored(UnsafePointer<Float>)

    /// g at elements i..<i+8 of the gradient, x the layer input there, zeroed where blocked.
    @inlinable @inline(__always)
    public func apply(_ g: Lanes, at i: Int, input x: Lanes) -> Lanes {
        switch self {
        case .none: return g
        case .recomputed(let scale, let shift):
            return g.replacing(with: 0, where: x * Lanes(repeating: scale) + Lanes(repeating: shift) .<= 0)
        case .stored(let output): return g.replacing(with: 0, where: load(output, i) .<= 0)
        }
    }

    @inlinable @inline(__always)
    public func apply(_ g: Float, at i: Int, input x: Float) -> Float {
        switch self {
        case .none: return g
        case .recomputed(let scale, let shift): return x * scale + shift > 0 ? g : 0
        case .stored(let output): return output[i] > 0 ? g : 0
        }
    }
}

/// (Σ a[i], Σ a[i]·(b[i] − center)) with a (a gradient arriving through a ReLU) masked by
/// `mask`, b being the input of the layer before that ReLU (what a recomputed mask reads).
public func sumAndCenteredDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int, center: Float,
                       mask: ReLUMask) -> (Double, Double) {
    var sa = Lanes(), sab = Lanes()
    let c = Lanes(repeating: center)
    var i = 0
    while i + 8 <= count {
        let x = load(b, i)
        let v = mask.apply(load(a, i), at: i, input: x)
        sa += v
        sab += v * (x - c)
        i += 8
    }
    var (s, d) = (Double(sa.sum()), Double(sab.sum()))
    while i < count {
        let v = mask.apply(a[i], at: i, input: b[i])
        s += Double(v)
        d += Double(v * (b[i] - center))
        i += 1
    }
    return (s, d)
}
