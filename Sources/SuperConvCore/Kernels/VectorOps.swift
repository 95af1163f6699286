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

func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    Elementwise.run(AddInPlace(y: y, x: x), count: count)
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

/// Sum of x[i] in double precision.
func sum(_ x: UnsafePointer<Float>, count: Int) -> Double {
    var s = 0.0
    for i in 0..<count { s += Double(x[i]) }
    return s
}
