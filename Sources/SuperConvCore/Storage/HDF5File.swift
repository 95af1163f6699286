import CHDF5
import CZlib
import Glibc
import HDF5Probe

/// A thin, checked layer over the HDF5 C API for checkpoints and run records: float32 and int64
/// datasets (int64 also as scalars) under slash-separated paths, string attributes on the root.
/// Every dataset carries a CRC-32 of its bytes (attribute "crc32"), and the whole file a CRC-32
/// in its first 512 bytes (`WholeFileChecksum`).
///
/// libhdf5 never touches the disk here. A file is built in memory (the core driver) and handed
/// over as bytes (`sealedImage`), which `AtomicFile` writes with checked system calls; so an I/O
/// error can neither be lost inside libhdf5 nor leave it holding a half-closed file. A file is
/// read into memory, its whole-file checksum checked, probed in a child process
/// (`sc_hdf5_probe`: libhdf5 can crash on crafted bytes) and only then opened from memory.
/// Reading validates presence, rank, shape, size, type and checksum before it hands anything
/// back, and every failure names the file and the dataset.
final class HDF5File {
    /// HDF5's error stack of the last failed call on this thread, as "; HDF5: a; b" (printing
    /// to stderr is off, so this is where its diagnosis goes).
    static func errorStack() -> String {
        final class Messages { var items: [String] = [] }
        let messages = Messages()
        let walker: H5E_walk2_t = { _, description, context in
            if let description, let text = description.pointee.desc {
                let line = String(cString: text).split(whereSeparator: \.isNewline).joined(separator: " ")
                Unmanaged<Messages>.fromOpaque(context!).takeUnretainedValue().items.append(line)
            }
            return 0
        }
        withExtendedLifetime(messages) {
            _ = H5Ewalk2(hid_t(0), H5E_WALK_DOWNWARD, walker, Unmanaged.passUnretained(messages).toOpaque())
        }
        H5Eclear2(hid_t(0))
        return messages.items.isEmpty ? "" : "; HDF5: " + messages.items.prefix(4).joined(separator: "; ")
    }

    let path: String
    private var id: hid_t
    /// The bytes of the file read; no dataset may declare more (files are not compressed).
    private let byteCount: Int

    private init(path: String, id: hid_t, byteCount: Int) {
        self.path = path
        self.id = id
        self.byteCount = byteCount
    }

    deinit { if id >= 0 { H5Fclose(id) } }

    /// libhdf5 never recovers when an allocation fails while it registers its core driver
    /// (every later in-memory file fails), so the registration is done once, on the first file,
    /// and an allocation failure on any later file costs that file only.
    private static let coreDriver: hid_t = {
        sc_h5_silence_errors()
        return H5FD_core_init()
    }()

    /// In-memory access; closing the file closes every object still open in it, so no error
    /// path can leave libhdf5 holding it.
    private static func accessList() throws -> hid_t {
        let access = coreDriver >= 0 ? H5Pcreate(sc_h5p_file_access()) : -1
        guard access >= 0 else { throw SuperConvError.outOfMemory("libhdf5 cannot make a file access list\(errorStack())") }
        guard H5Pset_fapl_core(access, 1 << 20, false) >= 0, H5Pset_fclose_degree(access, H5F_CLOSE_STRONG) >= 0 else {
            H5Pclose(access)
            throw SuperConvError.outOfMemory("libhdf5 cannot set up an in-memory file\(errorStack())")
        }
        return access
    }

    /// The name libhdf5 is given for a file in memory. It must name nothing on disk (the core
    /// driver refuses an image whose name exists) and differ between files open at once (libhdf5
    /// shares open files by name): nothing can exist under /dev/null.
    private static func memoryName() -> String {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return "/dev/null/superconv-\(getpid())-\(UInt(bitPattern: Int(bitPattern: pthread_self())))-\(time.tv_sec)-\(time.tv_nsec)"
    }

    /// A new file in memory; `path` only names it in messages.
    static func create(_ path: String) throws -> HDF5File {
        sc_h5_silence_errors()
        let access = try accessList()
        defer { H5Pclose(access) }
        let creation = H5Pcreate(sc_h5p_file_create())
        guard creation >= 0 else { throw SuperConvError.outOfMemory("libhdf5 cannot make a file creation list\(errorStack())") }
        defer { H5Pclose(creation) }
        guard H5Pset_userblock(creation, hsize_t(WholeFileChecksum.size)) >= 0 else {
            throw SuperConvError.outOfMemory("libhdf5 cannot set the user block\(errorStack())")
        }
        let id = H5Fcreate(memoryName(), sc_h5f_acc_trunc(), creation, access)
        guard id >= 0 else { throw SuperConvError.io("cannot create \(path) in memory\(errorStack())") }
        return HDF5File(path: path, id: id, byteCount: 0)
    }

    /// The file's bytes, whole-file checksum first; the file is closed afterwards.
    func sealedImage() throws -> [UInt8] {
        guard H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0 else { throw SuperConvError.io("\(path): cannot flush\(HDF5File.errorStack())") }
        let size = H5Fget_file_image(id, nil, 0)
        guard size > 0 else { throw SuperConvError.io("\(path): cannot take the file's image\(HDF5File.errorStack())") }
        var bytes = [UInt8](repeating: 0, count: WholeFileChecksum.size + size)
        let copied = bytes.withUnsafeMutableBytes { H5Fget_file_image(id, $0.baseAddress! + WholeFileChecksum.size, size) }
        let closed = H5Fclose(id)
        id = -1
        guard copied == size, closed >= 0 else { throw SuperConvError.io("\(path): cannot take the file's image\(HDF5File.errorStack())") }
        WholeFileChecksum.seal(&bytes)
        return bytes
    }

    /// Reads the file at `path`, checks its whole-file checksum (when it has one), probes it in
    /// a child process, and opens it from memory.
    static func open(_ path: String) throws -> HDF5File {
        sc_h5_silence_errors()
        let bytes = try readWholeFile(path, limit: maximumDatasetBytes, what: "an HDF5 file")
        guard hasSignature(bytes) else {
            throw SuperConvError.format("\(path) is not an HDF5 file (or is damaged)")
        }
        try WholeFileChecksum.verify(bytes, path)
        let name = memoryName()
        try probe(path, name: name, image: bytes, fileBytes: bytes.count, maximumDatasetBytes: bytes.count)
        let access = try accessList()
        defer { H5Pclose(access) }
        let copied = bytes.withUnsafeBytes { H5Pset_file_image(access, UnsafeMutableRawPointer(mutating: $0.baseAddress!), $0.count) }
        guard copied >= 0 else { throw SuperConvError.outOfMemory("\(path): no memory for the file's \(bytes.count) bytes") }
        let id = H5Fopen(name, sc_h5f_acc_rdonly(), access)
        guard id >= 0 else { throw SuperConvError.format("\(path): HDF5 cannot open it (damaged)\(errorStack())") }
        return HDF5File(path: path, id: id, byteCount: bytes.count)
    }

    /// HDF5's signature, which a file has at offset 0, 512, 1024, 2048, ... (after a user block).
    /// Checked before libhdf5 is asked to open a file: its failed opens leak memory.
    private static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]

    private static func signatureOffsets(_ size: Int) -> [Int] {
        var offsets: [Int] = [], offset = 0
        while offset + signature.count <= size {
            offsets.append(offset)
            offset = offset == 0 ? 512 : offset * 2
        }
        return offsets
    }

    private static func hasSignature(_ bytes: [UInt8]) -> Bool {
        signatureOffsets(bytes.count).contains { bytes[$0..<$0 + signature.count].elementsEqual(signature) }
    }

    /// Whether the file at `path` (of `size` bytes) has HDF5's signature where libhdf5 looks for it.
    static func hasSignature(path: String, size: Int) -> Bool {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return signatureOffsets(size).contains { offset in
            var found = [UInt8](repeating: 0, count: signature.count)
            return pread(fd, &found, found.count, off_t(offset)) == found.count && found == signature
        }
    }

    /// Runs `sc_hdf5_probe` on a file (its bytes when `image` is given) and turns its verdict
    /// into an error: libhdf5 failing the child or needing more memory than the file can justify,
    /// links to other files, values kept in other files.
    /// libhdf5 can also loop on a crafted file (fuzzing found one); the child is given 10 s and
    /// one more for every 100 MB of the file.
    static func probe(_ path: String, name: String? = nil, image: [UInt8]?, fileBytes: Int, maximumDatasetBytes: Int) throws {
        var detail: Int32 = 0
        let timeout = Int32(clamping: 10 + fileBytes / 100_000_000)
        let result = (name ?? path).withCString { name in
            if let image {
                return image.withUnsafeBytes { sc_hdf5_probe(name, $0.baseAddress, $0.count, UInt64(maximumDatasetBytes), timeout, &detail) }
            }
            return sc_hdf5_probe(name, nil, 0, UInt64(maximumDatasetBytes), timeout, &detail)
        }
        switch result {
        case SC_PROBE_PASSED: return
        case SC_PROBE_EXTERNAL_LINK:
            throw SuperConvError.format("\(path) links to another file (an HDF5 external link); such files are refused")
        case SC_PROBE_EXTERNAL_STORAGE:
            throw SuperConvError.format("\(path) keeps dataset values in other files (external or virtual storage); such files are refused")
        case SC_PROBE_TOO_LARGE:
            throw SuperConvError.format("\(path) is damaged: it declares a structure larger than its \(fileBytes) bytes can hold "
                                        + "(libhdf5 ran out of the memory allowed for it in a probe process)")
        case SC_PROBE_TOO_COMPLEX:
            throw SuperConvError.format("\(path) is damaged or too complex to check: more than 256 groups or 16 levels of them, "
                                        + "a name of 1024 bytes or more, or 64 links libhdf5 cannot read in one group")
        case SC_PROBE_CRASHED:
            let how = detail >= 256 ? "exit status \(detail - 256)" : "signal \(detail)"
            throw SuperConvError.format("\(path) is damaged: libhdf5 failed on it in a probe process (\(how))")
        case SC_PROBE_TIMED_OUT:
            throw SuperConvError.format("\(path): libhdf5 did not finish reading it within \(timeout) s in a probe process (damaged?)")
        default:
            throw SuperConvError.io("\(path): cannot start the process that probes it: \(String(cString: strerror(detail)))")
        }
    }

    // MARK: Writing

    func group(_ name: String) throws {
        let g = H5Gcreate2(id, name, sc_h5p_default(), sc_h5p_default(), sc_h5p_default())
        guard g >= 0, H5Gclose(g) >= 0 else { throw SuperConvError.io("\(path): cannot create group '\(name)'") }
    }

    func write(_ name: String, floats: UnsafePointer<Float>, shape: [Int]) throws {
        try write(name, type: sc_h5t_native_float(), data: UnsafeRawPointer(floats), shape: shape)
    }

    func write(_ name: String, integers: [Int64]) throws {
        try integers.withUnsafeBytes { try write(name, type: sc_h5t_native_int64(), data: $0.baseAddress!, shape: [integers.count]) }
    }

    /// A scalar dataset, which h5py reads as a plain number.
    func write(_ name: String, integer: Int64) throws {
        try withUnsafeBytes(of: integer) { try write(name, type: sc_h5t_native_int64(), data: $0.baseAddress!, shape: []) }
    }

    /// `shape` [] makes a scalar dataset.
    private func write(_ name: String, type: hid_t, data: UnsafeRawPointer, shape: [Int]) throws {
        let bytes = shape.reduce(1, *) * Int(H5Tget_size(type))
        var dims = shape.map { hsize_t($0) }
        let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), &dims, nil)
        defer { H5Sclose(space) }
        guard space >= 0 else { throw SuperConvError.io("\(path): cannot describe dataset '\(name)'") }
        let dataset = H5Dcreate2(id, name, type, space, sc_h5p_default(), sc_h5p_default(), sc_h5p_default())
        guard dataset >= 0 else { throw SuperConvError.io("\(path): cannot create dataset '\(name)'") }
        defer { H5Dclose(dataset) }
        guard H5Dwrite(dataset, type, sc_h5s_all(), sc_h5s_all(), sc_h5p_default(), data) >= 0 else {
            throw SuperConvError.io("\(path): cannot write dataset '\(name)'\(HDF5File.errorStack())")
        }
        var checksum = Int64(checksum(data, bytes))
        let scalar = H5Screate(H5S_SCALAR)
        defer { H5Sclose(scalar) }
        let attribute = H5Acreate2(dataset, "crc32", sc_h5t_native_int64(), scalar, sc_h5p_default(), sc_h5p_default())
        guard attribute >= 0 else { throw SuperConvError.io("\(path): cannot write the checksum of '\(name)'") }
        defer { H5Aclose(attribute) }
        guard H5Awrite(attribute, sc_h5t_native_int64(), &checksum) >= 0 else {
            throw SuperConvError.io("\(path): cannot write the checksum of '\(name)'")
        }
    }

    private func checksum(_ data: UnsafeRawPointer, _ bytes: Int) -> UInt {
        crc32(0, data.assumingMemoryBound(to: UInt8.self), UInt32(bytes))
    }

    func setAttribute(_ name: String, _ value: String) throws {
        let type = H5Tcopy(sc_h5t_c_s1())
        defer { H5Tclose(type) }
        H5Tset_size(type, max(1, value.utf8.count))
        let space = H5Screate(H5S_SCALAR)
        defer { H5Sclose(space) }
        guard type >= 0, space >= 0 else { throw SuperConvError.io("\(path): cannot write attribute '\(name)'") }
        let attribute = H5Acreate2(id, name, type, space, sc_h5p_default(), sc_h5p_default())
        guard attribute >= 0 else { throw SuperConvError.io("\(path): cannot write attribute '\(name)'") }
        defer { H5Aclose(attribute) }
        var bytes = Array(value.utf8)
        if bytes.isEmpty { bytes = [0] }
        guard H5Awrite(attribute, type, bytes) >= 0 else { throw SuperConvError.io("\(path): cannot write attribute '\(name)'") }
    }

    // MARK: Reading

    func attribute(_ name: String) throws -> String {
        guard H5Aexists(id, name) > 0 else { throw SuperConvError.format("\(path): attribute '\(name)' is missing") }
        let attribute = H5Aopen(id, name, sc_h5p_default())
        guard attribute >= 0 else { throw SuperConvError.format("\(path): attribute '\(name)' is unreadable") }
        defer { H5Aclose(attribute) }
        let type = H5Aget_type(attribute)
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_STRING, H5Tis_variable_str(type) == 0 else {
            throw SuperConvError.format("\(path): attribute '\(name)' is not a fixed-length string")
        }
        let size = Int(H5Tget_size(type))
        guard (1...1 << 20).contains(size) else { throw SuperConvError.format("\(path): attribute '\(name)' has size \(size)") }
        var bytes = [UInt8](repeating: 0, count: size)
        guard H5Aread(attribute, type, &bytes) >= 0 else { throw SuperConvError.format("\(path): attribute '\(name)' is unreadable") }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    func exists(_ name: String) -> Bool {
        // Each component must exist for H5Lexists to be asked about the next.
        var prefix = ""
        for part in name.split(separator: "/") {
            prefix += "/" + part
            if H5Lexists(id, prefix, sc_h5p_default()) <= 0 { return false }
        }
        return true
    }

    /// Reads a float dataset into `out`, after checking that it has exactly `shape`.
    func read(_ name: String, floatsInto out: UnsafeMutablePointer<Float>, shape: [Int]) throws {
        try read(name, expecting: shape, typeClass: H5T_FLOAT, memoryType: sc_h5t_native_float(), into: UnsafeMutableRawPointer(out))
    }

    func readIntegers(_ name: String, count: Int) throws -> [Int64] {
        guard count > 0 else {
            let actual = try shape(name)
            guard actual == [0] else { throw SuperConvError.format("\(path): dataset '\(name)' has shape \(actual), expected [0]") }
            return []
        }
        var values = [Int64](repeating: 0, count: count)
        try values.withUnsafeMutableBytes {
            try read(name, expecting: [count], typeClass: H5T_INTEGER, memoryType: sc_h5t_native_int64(), into: $0.baseAddress!)
        }
        return values
    }

    /// Reads a scalar int64 dataset.
    func readInteger(_ name: String) throws -> Int64 {
        var value: Int64 = 0
        try withUnsafeMutableBytes(of: &value) {
            try read(name, expecting: [], typeClass: H5T_INTEGER, memoryType: sc_h5t_native_int64(), into: $0.baseAddress!)
        }
        return value
    }

    /// Numbers in a file are 1, 2, 4 or 8 bytes wide. libhdf5 1.10 accepts any width a file
    /// declares and sizes its conversion buffers by it before reading: fuzzing found labels
    /// declared 4 GiB wide each, which made it allocate 8 GiB for two of them.
    static func checkNumberSize(_ type: hid_t, _ name: String, _ path: String) throws {
        let size = H5Tget_size(type)
        guard [1, 2, 4, 8].contains(size) else {
            throw SuperConvError.format("\(path): dataset '\(name)' holds numbers of \(size) bytes; 1, 2, 4 or 8 are readable")
        }
    }

    /// The shape of a dataset ([] for a scalar), or a format error naming it.
    func shape(_ name: String) throws -> [Int] {
        guard exists(name) else { throw SuperConvError.format("\(path): dataset '\(name)' is missing") }
        let dataset = H5Dopen2(id, name, sc_h5p_default())
        guard dataset >= 0 else { throw SuperConvError.format("\(path): dataset '\(name)' is unreadable") }
        defer { H5Dclose(dataset) }
        let space = H5Dget_space(dataset)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard (0...8).contains(rank) else { throw SuperConvError.format("\(path): dataset '\(name)' has an unreadable shape") }
        var dims = [hsize_t](repeating: 0, count: max(1, rank))
        H5Sget_simple_extent_dims(space, &dims, nil)
        let shape = dims.prefix(rank).map { Int(clamping: $0) }
        // Declared sizes are untrusted: a dataset cannot hold more values than the file has bytes.
        let type = H5Dget_type(dataset)
        defer { H5Tclose(type) }
        guard let count = checkedProduct(shape), let bytes = checkedProduct([count, max(1, Int(H5Tget_size(type)))]),
              bytes <= byteCount else {
            throw SuperConvError.format("\(path): dataset '\(name)' declares \(shape) values, more than the \(byteCount)-byte file holds")
        }
        return shape
    }

    private func read(_ name: String, expecting shape: [Int], typeClass: H5T_class_t, memoryType: hid_t,
                      into out: UnsafeMutableRawPointer) throws {
        let actual = try self.shape(name)
        guard actual == shape else {
            throw SuperConvError.format("\(path): dataset '\(name)' has shape \(actual), expected \(shape)")
        }
        let dataset = H5Dopen2(id, name, sc_h5p_default())
        defer { H5Dclose(dataset) }
        let type = H5Dget_type(dataset)
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == typeClass else {
            throw SuperConvError.format("\(path): dataset '\(name)' has the wrong type")
        }
        try HDF5File.checkNumberSize(type, name, path)
        guard H5Dread(dataset, memoryType, sc_h5s_all(), sc_h5s_all(), sc_h5p_default(), out) >= 0 else {
            throw SuperConvError.format("\(path): dataset '\(name)' is damaged (read failed)\(HDF5File.errorStack())")
        }
        var stored: Int64 = -1
        guard H5Aexists(dataset, "crc32") > 0 else { throw SuperConvError.format("\(path): dataset '\(name)' has no checksum") }
        let attribute = H5Aopen(dataset, "crc32", sc_h5p_default())
        defer { H5Aclose(attribute) }
        guard attribute >= 0, H5Aread(attribute, sc_h5t_native_int64(), &stored) >= 0 else {
            throw SuperConvError.format("\(path): the checksum of '\(name)' is unreadable")
        }
        let bytes = shape.reduce(1, *) * Int(H5Tget_size(memoryType))
        guard Int64(checksum(out, bytes)) == stored else {
            throw SuperConvError.format("\(path): dataset '\(name)' fails its checksum (the file is damaged)")
        }
    }
}
