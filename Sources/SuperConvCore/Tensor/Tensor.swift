import Glibc

/// A float32 tensor with owned, contiguous, 64-byte-aligned storage.
///
/// Layers keep their outputs and gradients in tensors they own and `resize` them to the shape of
/// each batch. Storage grows only when a shape needs more elements than it has ever held, so a
/// steady-state training step allocates nothing.
public final class Tensor {
    public private(set) var shape: Shape
    public private(set) var capacity: Int
    public private(set) var data: UnsafeMutablePointer<Float>

    public init(_ shape: Shape) throws {
        self.shape = shape
        self.capacity = max(1, shape.count)
        self.data = try Tensor.allocate(capacity)
        data.initialize(repeating: 0, count: capacity)
    }

    deinit { free(data) }

    public var count: Int { shape.count }

    /// Reshapes to `newShape`, reallocating only when it needs more room than the storage has.
    /// Contents are unspecified afterwards unless the count is unchanged.
    public func resize(_ newShape: Shape) throws {
        if newShape.count > capacity {
            let grown = try Tensor.allocate(newShape.count)
            free(data)
            capacity = newShape.count
            data = grown
            data.initialize(repeating: 0, count: capacity)
        }
        shape = newShape
    }

    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    public func copy(from source: UnsafePointer<Float>) { data.update(from: source, count: count) }

    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: data, count: count) }

    public var array: [Float] { Array(buffer) }

    private static func allocate(_ count: Int) throws -> UnsafeMutablePointer<Float> {
        var raw: UnsafeMutableRawPointer?
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard !overflow, posix_memalign(&raw, 64, bytes) == 0, let raw else {
            throw SuperConvError.outOfMemory("cannot allocate a tensor of \(count) floats")
        }
        return raw.bindMemory(to: Float.self, capacity: count)
    }
}
