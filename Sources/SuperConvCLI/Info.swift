import ArgumentParser
import CSuperConv
import Glibc

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The library, its threads, its BLAS and the data found.")

    @OptionGroup(title: "General") var common: CommonOptions

    func run() throws {
        try runCommand(common) {
            let fashion = DataOptions.fashionMNIST
            let found = access(fashion + "/train-images-idx3-ubyte.gz", R_OK) == 0
            print("""
                superconv \(String(cString: sc_version())) (ABI \(sc_abi_version()))
                threads   \(sc_get_num_threads()) (of \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) online processors; \
                --threads or SUPERCONV_NUM_THREADS)
                BLAS      \(String(cString: sc_blas_info()))
                kernels   \(String(cString: sc_instruction_set())) (SUPERCONV_ISA chooses)
                data      fashion-mnist: \(found ? fashion : "not found (apt-get install dataset-fashion-mnist)")
                """)
        }
    }
}
