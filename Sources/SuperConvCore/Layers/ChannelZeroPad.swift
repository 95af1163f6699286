/// Places the input's channels between blocks of zero channels, optionally subsampling the
/// plane: y[n, before + c, oy, ox] = x[n, c, oy·S, ox·S], zero elsewhere; C + before + after
/// output channels. It serves both shortcuts that double a ResNet's width without parameters:
///   caffe: after the block's sum, zeros appended (before 0, after C, stride 1);
///   he-a (option A): x[:, :, ::2, ::2] with (out − in)/2 zero channels on each side.
/// Backward: the gradient of the copied entries is copied back; the rest of dx is 0 (stride 2
/// skips pixels) and the zero channels' gradient is dropped.
public final class ChannelZeroPad: Layer {
    public let before: Int, after: Int, stride: Int
    private var inputShape = Shape(1)
    private let output: Tensor
    private let gradInput: Tensor

    public init(before: Int, after: Int, stride: Int) throws {
        self.before = before
        self.after = after
        self.stride = stride
        output = try Tensor(Shape(1))
        gradInput = try Tensor(Shape(1))
    }

    public func outputShape(for s: Shape) -> Shape {
        Shape(s.n, before + s.c + after, (s.h + stride - 1) / stride, (s.w + stride - 1) / stride)
    }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        try forward(x, into: output)
        return output
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        try backward(dy, into: gradInput)
        return gradInput
    }

    /// The forward pass into a tensor of the caller's (a fused block's buffer).
    func forward(_ x: Tensor, into y: Tensor) throws {
        inputShape = x.shape
        try y.resize(outputShape(for: x.shape))
        parallelFor(x.shape.n, Placement(layout: layout(y.shape), narrow: x.data, wide: y.data))
    }

    /// The backward pass into a tensor of the caller's.
    func backward(_ dy: Tensor, into dx: Tensor) throws {
        try dx.resize(inputShape)
        parallelFor(inputShape.n, PlacementGradient(layout: layout(dy.shape), gradWide: dy.data, gradNarrow: dx.data))
    }

    private func layout(_ out: Shape) -> PaddingLayout {
        PaddingLayout(before: before, after: after, stride: stride, c: inputShape.c, h: inputShape.h,
                      w: inputShape.w, oh: out.h, ow: out.w)
    }
}

/// Where input channel ch of an image lands: output channel before + ch, subsampled by stride.
private struct PaddingLayout {
    let before: Int, after: Int, stride: Int
    let c: Int, h: Int, w: Int, oh: Int, ow: Int
    var outputChannels: Int { before + c + after }
}

private struct Placement: ParallelBody {
    let layout: PaddingLayout
    let narrow: UnsafePointer<Float>, wide: UnsafeMutablePointer<Float>

    func callAsFunction(_ worker: Int, _ images: Range<Int>) {
        let L = layout, plane = L.oh * L.ow
        for i in images {
            let dst = wide + i * L.outputChannels * plane
            dst.update(repeating: 0, count: L.before * plane)
            (dst + (L.before + L.c) * plane).update(repeating: 0, count: L.after * plane)
            for ch in 0..<L.c {
                let src = narrow + (i * L.c + ch) * L.h * L.w, d = dst + (L.before + ch) * plane
                for oy in 0..<L.oh { for ox in 0..<L.ow { d[oy * L.ow + ox] = src[oy * L.stride * L.w + ox * L.stride] } }
            }
        }
    }
}

private struct PlacementGradient: ParallelBody {
    let layout: PaddingLayout
    let gradWide: UnsafePointer<Float>, gradNarrow: UnsafeMutablePointer<Float>

    func callAsFunction(_ worker: Int, _ images: Range<Int>) {
        let L = layout, plane = L.oh * L.ow
        for i in images {
            for ch in 0..<L.c {
                let dst = gradNarrow + (i * L.c + ch) * L.h * L.w
                let src = gradWide + (i * L.outputChannels + L.before + ch) * plane
                if L.stride != 1 { dst.update(repeating: 0, count: L.h * L.w) }
                for oy in 0..<L.oh { for ox in 0..<L.ow { dst[oy * L.stride * L.w + ox * L.stride] = src[oy * L.ow + ox] } }
            }
        }
    }
}
