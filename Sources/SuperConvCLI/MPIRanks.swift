import CSuperConv
import Glibc

/// The ranks of a data-parallel run (`superconv train --distributed` under mpirun), over Open MPI
/// loaded at run time: the command links no MPI, so it runs where none is installed, and only
/// --distributed needs one. It speaks Open MPI's C ABI (libmpi.so.40, Debian's openmpi-bin):
/// handles such as MPI_COMM_WORLD are the addresses of its predefined objects and MPI_IN_PLACE
/// is 1. Another MPI would need its own handles here.
final class MPIRanks {
    typealias Handle = UnsafeMutableRawPointer
    private typealias Allreduce = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle,
                                                  Handle) -> Int32
    private let allreduce: Allreduce
    private let abortJob: @convention(c) (Handle, Int32) -> Int32
    private let finalize: @convention(c) () -> Int32
    private let world: Handle, float: Handle, double: Handle, sum: Handle
    let rank: Int, size: Int

    init() throws {
        guard let library = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL) else {
            throw CommandFailure("--distributed needs Open MPI's libmpi.so.40 (apt-get install openmpi-bin): "
                                 + String(cString: dlerror()), exitCode: 69)
        }
        func symbol(_ name: String) throws -> UnsafeMutableRawPointer {
            guard let address = dlsym(library, name) else {
                throw CommandFailure("libmpi.so.40 has no \(name): --distributed speaks Open MPI's ABI only", exitCode: 69)
            }
            return address
        }
        func function<F>(_ name: String, _ type: F.Type) throws -> F { unsafeBitCast(try symbol(name), to: type) }
        allreduce = try function("MPI_Allreduce", Allreduce.self)
        abortJob = try function("MPI_Abort", (@convention(c) (Handle, Int32) -> Int32).self)
        finalize = try function("MPI_Finalize", (@convention(c) () -> Int32).self)
        let initialize = try function("MPI_Init", (@convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32).self)
        let commRank = try function("MPI_Comm_rank", (@convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32).self)
        let commSize = try function("MPI_Comm_size", (@convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32).self)
        (world, float, double, sum) = (try symbol("ompi_mpi_comm_world"), try symbol("ompi_mpi_float"),
                                       try symbol("ompi_mpi_double"), try symbol("ompi_mpi_op_sum"))
        guard initialize(nil, nil) == 0 else { throw CommandFailure("MPI_Init failed", exitCode: 69) }
        var rank: Int32 = 0, size: Int32 = 0
        _ = commRank(world, &rank)
        _ = commSize(world, &size)
        (self.rank, self.size) = (Int(rank), Int(size))
    }

    /// Sums `count` values of `type` in place across the ranks, in pieces that fit MPI's counts.
    private func sum(_ data: UnsafeMutableRawPointer, count: Int, stride: Int, type: Handle) -> Bool {
        var first = 0
        while first < count {
            let n = min(count - first, Int(Int32.max))
            guard allreduce(UnsafeRawPointer(bitPattern: 1), data + first * stride, Int32(n), type, sum, world) == 0 else {
                return false
            }
            first += n
        }
        return true
    }

    /// Means over all ranks' samples of values each rank has as means over `count` samples.
    func mean(_ values: [Double], count: Int) -> [Double] {
        var sums = values.map { $0 * Double(count) } + [Double(count)]
        let n = sums.count
        _ = sums.withUnsafeMutableBytes { sum($0.baseAddress!, count: n, stride: 8, type: double) }
        return sums.dropLast().map { $0 / sums.last! }
    }

    /// Makes every step of `trainer` average its gradients across the ranks.
    func attach(to trainer: Trainer) throws {
        let hook: sc_allreduce_fn = { data, len, user in
            let ranks = Unmanaged<MPIRanks>.fromOpaque(user!).takeUnretainedValue()
            return ranks.sum(UnsafeMutableRawPointer(data!), count: Int(len), stride: 4, type: ranks.float) ? SC_OK : SC_ERR_IO
        }
        try check(sc_trainer_set_allreduce(trainer.handle, hook, Unmanaged.passUnretained(self).toOpaque(), Int32(size)))
    }

    /// Ends every rank of the job with `code`: one rank that stopped alone would leave the
    /// others waiting in their next all-reduce.
    func abort(_ message: String, code: Int32) -> Never {
        ProgressDisplay.write("rank \(rank) of \(size): Error: \(message); ending the job\n")
        _ = abortJob(world, code)
        exit(code)
    }

    func finish() { _ = finalize() }
}
