/// Scratch memory shared by every convolution of a model: per worker a column matrix and a
/// product matrix, and the weight gradient's partial sums per chunk of the batch. Layers run one
/// at a time, so each buffer, grown to the largest request, serves the whole network.
public final class Workspace {
    private var columns: [Tensor] = []
    private var products: [Tensor] = []
    private var accumulators: [Tensor] = []

    public init() {}

    /// Makes sure `workers` sets of scratch matrices and `chunks` accumulators exist with at least
    /// the given sizes (in floats). Allocates only when a buffer is missing or too small, so a
    /// steady-state step allocates nothing.
    func reserve(workers: Int, columns columnCount: Int, product productCount: Int,
                 chunks: Int = 0, accumulator accumulatorCount: Int = 0) throws {
        while columns.count < workers {
            columns.append(try Tensor(Shape(1)))
            products.append(try Tensor(Shape(1)))
        }
        while accumulators.count < chunks { accumulators.append(try Tensor(Shape(1))) }
        for w in 0..<workers {
            try columns[w].resize(Shape(max(1, columnCount)))
            try products[w].resize(Shape(max(1, productCount)))
        }
        for c in 0..<chunks { try accumulators[c].resize(Shape(max(1, accumulatorCount))) }
    }

    func columns(_ worker: Int) -> UnsafeMutablePointer<Float> { columns[worker].data }
    func product(_ worker: Int) -> UnsafeMutablePointer<Float> { products[worker].data }
    func accumulator(_ chunk: Int) -> UnsafeMutablePointer<Float> { accumulators[chunk].data }
}
