import CHDF5
import CZlib
import Glibc

/// A thin, checked layer over the HDF5 C API for checkpoints: float32 and int64 datasets (int64
/// also as scalars) under slash-separated paths, string attributes on the root. Every dataset
/// carries a CRC-32 of its bytes (attribute "crc32"), so flipped bits in the data are caught,
/// not loaded. Reading validates presence, rank, shape, type and checksum before it hands
/// anything back, and every failure names the file and the dataset.
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
    private let id: hid_t

    private init(path: String, id: hid_t) {
        self.path = path
        self.id = id
    }

    deinit { H5Fclose(id) }

    static func create(_ path: String) throws -> HDF5File {
        sc_h5_silence_errors()
        let id = H5Fcreate(path, sc_h5f_acc_trunc(), sc_h5p_default(), sc_h5p_default())
        guard id >= 0 else { throw SuperConvError.io("cannot create \(path)\(errorStack())") }
        return HDF5File(path: path, id: id)
    }

    static func open(_ path: String) throws -> HDF5File {
        sc_h5_silence_errors()
        guard access(path, R_OK) == 0 else {
            throw SuperConvError.io("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard H5Fis_hdf5(path) > 0 else {
            throw SuperConvError.format("\(path) is not an HDF5 file (or is damaged)")
        }
        let id = H5Fopen(path, sc_h5f_acc_rdonly(), sc_h5p_default())
        guard id >= 0 else { throw SuperConvError.format("\(path): HDF5 cannot open it (damaged)\(errorStack())") }
        return HDF5File(path: path, id: id)
    }

    // MARK: Writing

    func group(_ name: String) throws {
        let g = H5Gcreate2(id, name, sc_h5p_default(), sc_h5p_default(), sc_h5p_default())
        guard g >= 0 else { throw SuperConvError.io("\(path): cannot create group '\(name)'") }
        H5Gclose(g)
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
        guard attribute >= 0, H5Awrite(attribute, sc_h5t_native_int64(), &checksum) >= 0 else {
            throw SuperConvError.io("\(path): cannot write the checksum of '\(name)'")
        }
        H5Aclose(attribute)
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
        let attribute = H5Acreate2(id, name, type, space, sc_h5p_default(), sc_h5p_default())
        guard attribute >= 0 else { throw SuperConvError.io("\(path): cannot write attribute '\(name)'") }
        defer { H5Aclose(attribute) }
        var bytes = Array(value.utf8)
        if bytes.isEmpty { bytes = [0] }
        guard H5Awrite(attribute, type, bytes) >= 0 else { throw SuperConvError.io("\(path): cannot write attribute '\(name)'") }
    }

    func flush() throws {
        guard H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0 else { throw SuperConvError.io("\(path): cannot flush") }
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
        return dims.prefix(rank).map { Int(clamping: $0) }
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
