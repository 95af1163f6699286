/// Element-wise operations and reductions over flat float buffers, split across the library's
/// workers for large buffers and written with explicit 8-lane SIMD: the compiler leaves
/// select-style loops scalar and branchy, which costs several times more on data with random
/// signs (measured on ReLU's backward).

/// Below this many elements a single thread is faster than waking the others.
let parallelGrain = 1 << 15

typealias Lanes = SIMD8<Float>

@inline(__always)
func load(_ p: UnsafePointer<Float>, _ i: Int) -> Lanes {
    UnsafeRawPointer(p + i).loadUnaligned(as: Lanes.self)
}

@inline(__always)
func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Lanes.self)
}

/// An element-wise operation: `lanes` handles elements i..<i+8, `scalar` one element.
protocol ElementwiseKernel {
    func lanes(_ i: Int)
    func scalar(_ i: Int)
}

/// Runs a kernel over `count` elements: whole 8-lane blocks, then the tail.
struct Elementwise<Kernel: ElementwiseKernel>: ParallelBody {
    let kernel: Kernel
    let count: Int

    func callAsFunction(_ worker: Int, _ blocks: Range<Int>) {
        for block in blocks {
            let i = block * 8
            if i + 8 <= count { kernel.lanes(i) } else { for j in i..<count { kernel.scalar(j) } }
        }
    }

    static func run(_ kernel: Kernel, count: Int) {
        parallelFor(count / 8 + 1, minimumPerWorker: parallelGrain / 8, Elementwise(kernel: kernel, count: count))
    }
}

/// y[i] += x[i]
struct AddInPlace: ElementwiseKernel {
    let y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>
    func lanes(_ i: Int) { store(load(y, i) + load(x, i), y, i) }
    func scalar(_ i: Int) { y[i] += x[i] }
}

/// z[i] = x[i] + y[i]
struct Add: ElementwiseKernel {
    let x: UnsafePointer<Float>, y: UnsafePointer<Float>, z: UnsafeMutablePointer<Float>
    func lanes(_ i: Int) { store(load(x, i) + load(y, i), z, i) }
    func scalar(_ i: Int) { z[i] = x[i] + y[i] }
}

/// y[i] = max(0, x[i]); NaN stays NaN, so the non-finite guard still sees it.
struct ReLUForward: ElementwiseKernel {
    let x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>
    func lanes(_ i: Int) { let v = load(x, i); store(v.replacing(with: 0, where: v .< 0), y, i) }
    func scalar(_ i: Int) { y[i] = x[i] < 0 ? 0 : x[i] }
}

/// dx[i] = y[i] > 0 ? dy[i] : 0, with y the ReLU's output.
struct ReLUBackward: ElementwiseKernel {
    let y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>
    func lanes(_ i: Int) { store(load(dy, i).replacing(with: 0, where: load(y, i) .<= 0), dx, i) }
    func scalar(_ i: Int) { dx[i] = y[i] > 0 ? dy[i] : 0 }
}

/// z[i] = x[i] + (y[i] > 0 ? dy[i] : 0): a gradient plus a ReLU's backward of another, with y
/// that ReLU's output.
struct AddReLUGradient: ElementwiseKernel {
    let x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>, z: UnsafeMutablePointer<Float>
    func lanes(_ i: Int) { store(load(x, i) + load(dy, i).replacing(with: 0, where: load(y, i) .<= 0), z, i) }
    func scalar(_ i: Int) { z[i] = x[i] + (y[i] > 0 ? dy[i] : 0) }
}

func addReLUGradient(_ x: UnsafePointer<Float>, output y: UnsafePointer<Float>, gradient dy: UnsafePointer<Float>,
                     into z: UnsafeMutablePointer<Float>, count: Int) {
    Elementwise.run(AddReLUGradient(x: x, y: y, dy: dy, z: z), count: count)
}

/// y += x on the calling thread (for use inside a parallel region).
@inline(__always)
func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    Elementwise(kernel: AddInPlace(y: y, x: x), count: count)(0, 0..<(count + 7) / 8)
}

func add(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>, count: Int) {
    Elementwise.run(Add(x: x, y: y, z: z), count: count)
}

func relu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    Elementwise.run(ReLUForward(x: x, y: y), count: count)
}

func reluBackward(output y: UnsafePointer<Float>, gradient dy: UnsafePointer<Float>,
                  into dx: UnsafeMutablePointer<Float>, count: Int) {
    Elementwise.run(ReLUBackward(y: y, dy: dy, dx: dx), count: count)
}

/// true when every element is finite (no NaN, no infinity).
func allFinite(_ x: UnsafePointer<Float>, count: Int) -> Bool {
    // x − x is 0 for finite x and NaN otherwise; summing keeps the loop branch-free.
    var acc: Float = 0
    for i in 0..<count { acc += x[i] - x[i] }
    return acc == 0
}

// Reductions over one plane (up to a few thousand elements): eight float partial sums, which
// break the add chain's latency, returned in double for the caller to accumulate across planes.
// Multiply and add are written separately: this module is compiled for baseline x86-64, where
// SIMD's addProduct becomes a call to fmaf per lane.

/// Σ x[i].
func sum(_ x: UnsafePointer<Float>, count: Int) -> Double {
    var acc = Lanes()
    var i = 0
    while i + 8 <= count { acc += load(x, i); i += 8 }
    var s = Double(acc.sum())
    while i < count { s += Double(x[i]); i += 1 }
    return s
}

/// (Σ (x[i] − shift), Σ (x[i] − shift)²) in one pass.
func shiftedSums(_ x: UnsafePointer<Float>, count: Int, shift: Float) -> (Double, Double) {
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
enum ReLUMask {
    case none
    case recomputed(scale: Float, shift: Float)
    case stored(UnsafePointer<Float>)

    /// g at elements i..<i+8 of the gradient, x the layer input there, zeroed where blocked.
    @inline(__always)
    func apply(_ g: Lanes, at i: Int, input x: Lanes) -> Lanes {
        switch self {
        case .none: return g
        case .recomputed(let scale, let shift):
            return g.replacing(with: 0, where: x * Lanes(repeating: scale) + Lanes(repeating: shift) .<= 0)
        case .stored(let output): return g.replacing(with: 0, where: load(output, i) .<= 0)
        }
    }

    @inline(__always)
    func apply(_ g: Float, at i: Int, input x: Float) -> Float {
        switch self {
        case .none: return g
        case .recomputed(let scale, let shift): return x * scale + shift > 0 ? g : 0
        case .stored(let output): return output[i] > 0 ? g : 0
        }
    }
}

/// (Σ a[i], Σ a[i]·(b[i] − center)) with a (a gradient arriving through a ReLU) masked by
/// `mask`, b being the input of the layer before that ReLU (what a recomputed mask reads).
func sumAndCenteredDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int, center: Float,
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
