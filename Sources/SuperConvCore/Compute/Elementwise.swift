import SuperConvKernelsPortable

/// Below this many elements a single thread is faster than waking the others.
let parallelGrain = 1 << 15

/// An element-wise kernel of `SuperConvKernelsPortable` over `count` elements, split across the
/// workers in whole blocks of eight (the kernels' vector width) for large buffers.
enum Elementwise: ParallelBody {
    case add(UnsafePointer<Float>, UnsafePointer<Float>, into: UnsafeMutablePointer<Float>, count: Int)
    case relu(UnsafePointer<Float>, into: UnsafeMutablePointer<Float>, count: Int)
    case reluBackward(output: UnsafePointer<Float>, gradient: UnsafePointer<Float>,
                      into: UnsafeMutablePointer<Float>, count: Int)
    case addReLUGradient(UnsafePointer<Float>, output: UnsafePointer<Float>, gradient: UnsafePointer<Float>,
                         into: UnsafeMutablePointer<Float>, count: Int)

    var count: Int {
        switch self {
        case .add(_, _, _, let n), .relu(_, _, let n), .reluBackward(_, _, _, let n),
             .addReLUGradient(_, _, _, _, let n):
            return n
        }
    }

    func callAsFunction(_ worker: Int, _ blocks: Range<Int>) {
        let range = blocks.lowerBound * 8..<min(count, blocks.upperBound * 8)
        switch self {
        case .add(let x, let y, let z, _): SuperConvKernelsPortable.add(x, y, into: z, range: range)
        case .relu(let x, let y, _): SuperConvKernelsPortable.relu(x, into: y, range: range)
        case .reluBackward(let y, let dy, let dx, _):
            SuperConvKernelsPortable.reluBackward(output: y, gradient: dy, into: dx, range: range)
        case .addReLUGradient(let x, let y, let dy, let z, _):
            SuperConvKernelsPortable.addReLUGradient(x, output: y, gradient: dy, into: z, range: range)
        }
    }

    /// Runs the kernel over all its elements.
    func run() {
        parallelFor((count + 7) / 8, minimumPerWorker: parallelGrain / 8, self)
    }
}
