/// A convolution as a layer (see `Convolution` for the arithmetic and the kernels): forward writes
/// y, backward writes dx (unless the convolution computes none) and adds the parameter gradients.
public final class Conv2d: Layer {
    public let convolution: Convolution
    private var input: Tensor?
    private let output: Tensor
    private let gradInput: Tensor

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool, computesInputGradient: Bool = true, instructionSet: InstructionSet = .selected,
                workspace: Workspace, tuning: ConvolutionTuning = ConvolutionTuning()) throws {
        convolution = try Convolution(inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride,
                                      padding: padding, bias: bias, computesInputGradient: computesInputGradient,
                                      instructionSet: instructionSet, workspace: workspace, tuning: tuning)
        output = try Tensor(Shape(1))
        gradInput = try Tensor(Shape(1))
    }

    public var weight: Parameter { convolution.weight }
    public var bias: Parameter? { convolution.bias }
    public var parameters: [Parameter] { convolution.parameters }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        input = x
        try convolution.forward(ConvolutionInput(x), shape: x.shape, into: output, recording: nil)
        return output
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        guard let x = input else { throw SuperConvError.state("Conv2d.backward called before forward") }
        try convolution.backward(ConvolutionInput(x), shape: x.shape, gradient: .stored(dy.data), inputGradient: gradInput)
        return gradInput
    }
}
