/// Scratch memory shared by every convolution of a model: the column matrix and the product
/// matrix of the lowered convolution. Layers run one at a time, so one buffer of each kind, grown
/// to the largest request, serves the whole network.
public final class Workspace {
    private let columns: Tensor
    private let product: Tensor

    public init() throws {
        columns = try Tensor(Shape(1))
        product = try Tensor(Shape(1))
    }

    /// Most floats one column matrix may take; larger batches are lowered in chunks of images.
    nonisolated(unsafe) static var columnBudget = 1 << 23

    func columns(_ count: Int) throws -> UnsafeMutablePointer<Float> {
        try columns.resize(Shape(count))
        return columns.data
    }

    func product(_ count: Int) throws -> UnsafeMutablePointer<Float> {
        try product.resize(Shape(count))
        return product.data
    }
}
