/// Which tensor, with which shape: what `PlaneMoments` and `Deferred` check that they
/// still describe.
struct TensorIdentity: Equatable {
    let object: ObjectIdentifier
    let shape: Shape

    init(_ tensor: Tensor) {
        object = ObjectIdentifier(tensor)
        shape = tensor.shape
    }
}
