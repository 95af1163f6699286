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

/// y[i] += x[i]
func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: parallelGrain) { r in
        for i in r { y[i] += x[i] }
    }
}

/// z[i] = x[i] + y[i]
func add(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: parallelGrain) { r in
        for i in r { z[i] = x[i] + y[i] }
    }
}

/// y[i] = max(0, x[i])
func relu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: parallelGrain) { r in
        for i in r { y[i] = max(0, x[i]) }
    }
}

/// dx[i] = y[i] > 0 ? dy[i] : 0, with y the ReLU's output.
func reluBackward(output y: UnsafePointer<Float>, gradient dy: UnsafePointer<Float>,
                  into dx: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: parallelGrain) { r in
        for i in r { dx[i] = y[i] > 0 ? dy[i] : 0 }
    }
}

/// Sum of x[i] in double precision.
func sum(_ x: UnsafePointer<Float>, count: Int) -> Double {
    var s = 0.0
    for i in 0..<count { s += Double(x[i]) }
    return s
}
