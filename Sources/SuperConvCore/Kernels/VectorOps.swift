/// Element-wise operations and reductions over flat float buffers, split across the library's
/// threads for large buffers. Each worker owns a contiguous slice, and reductions combine the
/// per-worker partials in worker order, so results depend only on the thread count.

/// Below this many elements a single thread is faster than waking the others.
let parallelGrain = 1 << 15

/// true when every element is finite (no NaN, no infinity).
func allFinite(_ x: UnsafePointer<Float>, count: Int) -> Bool {
    // x - x is 0 for finite x and NaN otherwise; summing keeps the loop branch-free.
    var acc: Float = 0
    for i in 0..<count { acc += x[i] - x[i] }
    return acc == 0
}

typealias Lanes = SIMD8<Float>

/// Applies `lanes` to 8 elements at a time and `scalar` to the tail, on each worker's slice.
/// Written with explicit SIMD because the compiler leaves select-style loops scalar and
/// branchy, which costs several times more on data with random signs.
@inline(__always)
private func elementwise(_ count: Int, lanes: (Int) -> Void, scalar: (Int) -> Void) {
    parallelFor(count / 8 + 1, minimumPerWorker: parallelGrain / 8) { blocks in
        for block in blocks {
            let i = block * 8
            if i + 8 <= count { lanes(i) } else { for j in i..<count { scalar(j) } }
        }
    }
}

@inline(__always)
private func load(_ p: UnsafePointer<Float>, _ i: Int) -> Lanes {
    UnsafeRawPointer(p + i).loadUnaligned(as: Lanes.self)
}

@inline(__always)
private func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Lanes.self)
}

/// y[i] += x[i]
func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    elementwise(count, lanes: { store(load(y, $0) + load(x, $0), y, $0) }, scalar: { y[$0] += x[$0] })
}

/// z[i] = x[i] + y[i]
func add(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>, count: Int) {
    elementwise(count, lanes: { store(load(x, $0) + load(y, $0), z, $0) }, scalar: { z[$0] = x[$0] + y[$0] })
}

/// y[i] = max(0, x[i])
func relu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    // replacing(where:) rather than pointwiseMax, which the compiler does not inline.
    elementwise(count, lanes: { i in let v = load(x, i); store(v.replacing(with: 0, where: v .< 0), y, i) },
                scalar: { y[$0] = max(0, x[$0]) })
}

/// dx[i] = y[i] > 0 ? dy[i] : 0, with y the ReLU's output.
func reluBackward(output y: UnsafePointer<Float>, gradient dy: UnsafePointer<Float>,
                  into dx: UnsafeMutablePointer<Float>, count: Int) {
    elementwise(count, lanes: { i in
        store(load(dy, i).replacing(with: 0, where: load(y, i) .<= 0), dx, i)
    }, scalar: { dx[$0] = y[$0] > 0 ? dy[$0] : 0 })
}

/// Sum of x[i] in double precision.
func sum(_ x: UnsafePointer<Float>, count: Int) -> Double {
    var s = 0.0
    for i in 0..<count { s += Double(x[i]) }
    return s
}
