// Element-wise kernels over a range of flat float buffers. Serial: the caller splits a buffer
// across its workers.

/// z = x + y
public func add(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>,
                range: Range<Int>) {
    forEachBlock(range, lanes: { store(load(x, $0) + load(y, $0), z, $0) }, scalar: { z[$0] = x[$0] + y[$0] })
}

/// y += x
public func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, range: Range<Int>) {
    add(y, x, into: y, range: range)
}

/// y = max(0, x); NaN stays NaN, so the trainer's non-finite guard still sees it.
public func relu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, range: Range<Int>) {
    forEachBlock(range, lanes: { let v = load(x, $0); store(v.replacing(with: 0, where: v .< 0), y, $0) },
                 scalar: { y[$0] = x[$0] < 0 ? 0 : x[$0] })
}

/// dx = dy where y > 0, else 0, with y the ReLU's output.
public func reluBackward(output y: UnsafePointer<Float>, gradient dy: UnsafePointer<Float>,
                         into dx: UnsafeMutablePointer<Float>, range: Range<Int>) {
    forEachBlock(range, lanes: { store(load(dy, $0).replacing(with: 0, where: load(y, $0) .<= 0), dx, $0) },
                 scalar: { dx[$0] = y[$0] > 0 ? dy[$0] : 0 })
}

/// z = x + (y > 0 ? dy : 0): a gradient plus a ReLU's backward of another, y that ReLU's output.
public func addReLUGradient(_ x: UnsafePointer<Float>, output y: UnsafePointer<Float>,
                            gradient dy: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>, range: Range<Int>) {
    forEachBlock(range, lanes: {
        store(load(x, $0) + load(dy, $0).replacing(with: 0, where: load(y, $0) .<= 0), z, $0)
    }, scalar: { z[$0] = x[$0] + (y[$0] > 0 ? dy[$0] : 0) })
}

/// true when every element is finite (no NaN, no infinity).
public func allFinite(_ x: UnsafePointer<Float>, count: Int) -> Bool {
    // x − x is 0 for finite x and NaN otherwise; summing keeps the loop branch-free.
    var acc: Float = 0
    for i in 0..<count { acc += x[i] - x[i] }
    return acc == 0
}
