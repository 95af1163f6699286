// Every kernel of this module runs on any x86-64 CPU: it is compiled for the baseline (SSE2), and
// its vector code is written with Swift's SIMD types, eight floats at a time, which the compiler
// lowers to whatever the target offers. Loops whose body selects (ReLU and its masks) are written
// with explicit lanes: left to the auto-vectoriser they stay scalar and branchy, which costs
// several times more on data with random signs.
//
// Multiply and add are written separately, never as `addProduct`: on the baseline target that
// becomes a call to fmaf per lane. The same expressions compiled into the AVX2 module give the
// same bits, since neither module contracts a separate multiply and add into one FMA.

/// Eight floats, the vector width of these kernels.
public typealias Lanes = SIMD8<Float>

@inlinable @inline(__always)
public func load(_ p: UnsafePointer<Float>, _ i: Int) -> Lanes {
    UnsafeRawPointer(p + i).loadUnaligned(as: Lanes.self)
}

@inlinable @inline(__always)
public func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Lanes.self)
}

/// Runs `lanes` on each whole block of eight elements of `range` and `scalar` on the rest.
@inlinable @inline(__always)
public func forEachBlock(_ range: Range<Int>, lanes: (Int) -> Void, scalar: (Int) -> Void) {
    var i = range.lowerBound
    while i + 8 <= range.upperBound { lanes(i); i += 8 }
    while i < range.upperBound { scalar(i); i += 1 }
}
