/// Scratch memory shared by every convolution of a model, one set per worker: a column matrix,
/// a product matrix and a weight-gradient accumulator. Layers run one at a time, so one set per
/// worker, grown to the largest request, serves the whole network.
public final class Workspace {
    private var columns: [Tensor] = []
    private var products: [Tensor] = []
    private var accumulators: [Tensor] = []

    public init() {}

    /// Makes sure `workers` sets exist with at least the given sizes (in floats). Allocates only
    /// when a set is missing or too small, so a steady-state step allocates nothing.
    func reserve(workers: Int, columns columnCount: Int, product productCount: Int,
                 accumulator accumulatorCount: Int) throws {
        while columns.count < workers {
            columns.append(try Tensor(Shape(1)))
            products.append(try Tensor(Shape(1)))
            accumulators.append(try Tensor(Shape(1)))
        }
        for w in 0..<workers {
            try columns[w].resize(Shape(max(1, columnCount)))
            try products[w].resize(Shape(max(1, productCount)))
            try accumulators[w].resize(Shape(max(1, accumulatorCount)))
        }
    }

    func columns(_ worker: Int) -> UnsafeMutablePointer<Float> { columns[worker].data }
    func product(_ worker: Int) -> UnsafeMutablePointer<Float> { products[worker].data }
    func accumulator(_ worker: Int) -> UnsafeMutablePointer<Float> { accumulators[worker].data }
}
