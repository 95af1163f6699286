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
    private let output: Tensor, gradInput: Tensor

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
        inputShape = x.shape
        let out = outputShape(for: x.shape)
        try output.resize(out)
        let (c, h, w, oh, ow, oc) = (x.shape.c, x.shape.h, x.shape.w, out.h, out.w, out.c)
        let plane = oh * ow
        parallelFor(x.shape.n) { images in
            for i in images {
                let dst = output.data + i * oc * plane
                dst.update(repeating: 0, count: before * plane)
                (dst + (before + c) * plane).update(repeating: 0, count: after * plane)
                for ch in 0..<c {
                    let src = x.data + (i * c + ch) * h * w, d = dst + (before + ch) * plane
                    for oy in 0..<oh { for ox in 0..<ow { d[oy * ow + ox] = src[oy * stride * w + ox * stride] } }
                }
            }
        }
        return output
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        try gradInput.resize(inputShape)
        let (c, h, w, oh, ow, oc) = (inputShape.c, inputShape.h, inputShape.w, dy.shape.h, dy.shape.w, dy.shape.c)
        let plane = oh * ow
        parallelFor(inputShape.n) { images in
            for i in images {
                for ch in 0..<c {
                    let dst = gradInput.data + (i * c + ch) * h * w
                    let src = dy.data + (i * oc + before + ch) * plane
                    if stride != 1 { dst.update(repeating: 0, count: h * w) }
                    for oy in 0..<oh { for ox in 0..<ow { dst[oy * stride * w + ox * stride] = src[oy * ow + ox] } }
                }
            }
        }
        return gradInput
    }
}
