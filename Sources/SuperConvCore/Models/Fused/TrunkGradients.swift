/// The tensors through which dLoss/dActivation flows in a network's trunk, shared by its stem
/// and all its residual blocks instead of a gradient tensor per layer: each grows to the largest
/// stage. Who writes which, in `ResidualBlock.backward` and `Stem.backward`:
///   s  the trunk's gradient between blocks: a block's dy arrives in s (the pooling head writes
///      the last block's there), and the block leaves its dx in s;
///   b  conv2's dx, then conv1's (the branch's dx);
///   a  a caffe block's narrowed dy, then room for a batch norm's dx wherever a convolution
///      cannot form it as it reads it, then a downsampling shortcut's dx.
final class TrunkGradients {
    let a: Tensor, b: Tensor, s: Tensor

    init() throws {
        a = try Tensor(Shape(1))
        b = try Tensor(Shape(1))
        s = try Tensor(Shape(1))
    }
}
