import CHDF5
import Glibc

/// Reads an HDF5 file holding an image dataset (uint8 or float32, rank 4, NCHW or NHWC) and a
/// label dataset (integers, rank 1) of the same length. The file is probed in a child process
/// first (`HDF5File.probe`: libhdf5 can crash on damaged files; links and values in other files
/// are refused); HDF5's own error printing is off; its failures become statuses that name the
/// file and the dataset. No dataset may declare more values than the file could hold compressed.
enum HDF5Reader {
    static func read(path: String, images: String, labels: String, channelsLast: Bool, classes: Int?) throws -> Dataset {
        return try HDF5Lock.serialized {
            sc_h5_silence_errors()
            var status = stat()
            guard stat(path, &status) == 0 else { throw SuperConvError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
            guard status.st_mode & S_IFMT == S_IFREG else { throw SuperConvError.io("\(path) is not a regular file") }
            guard access(path, R_OK) == 0 else { throw SuperConvError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
            guard HDF5File.hasSignature(path: path, size: Int(status.st_size)) else {
                throw SuperConvError.format("\(path) is not an HDF5 file (or is damaged)")
            }
            // A deflate stream expands at most about 1032:1 (as in IDXReader).
            let holdable = Int(status.st_size).multipliedReportingOverflow(by: 1032)
            let largest = holdable.overflow ? maximumDatasetBytes : min(maximumDatasetBytes, holdable.partialValue)
            try HDF5File.probe(path, image: nil, fileBytes: Int(status.st_size), maximumDatasetBytes: largest)
            let file = H5Fopen(path, sc_h5f_acc_rdonly(), sc_h5p_default())
            guard file >= 0 else { throw SuperConvError.format("\(path) is not an HDF5 file (or is damaged)") }
            defer { H5Fclose(file) }

            let (imageDims, imageClass, imageSize) = try describe(file, images, path)
            guard imageDims.count == 4 else {
                throw SuperConvError.format("\(path): dataset '\(images)' has rank \(imageDims.count), expected 4 (N, C, H, W or N, H, W, C)")
            }
            let (labelDims, labelClass, _) = try describe(file, labels, path)
            guard labelDims.count == 1, labelClass == H5T_INTEGER else {
                throw SuperConvError.format("\(path): dataset '\(labels)' must be a rank-1 integer dataset")
            }
            guard labelDims[0] == imageDims[0] else {
                throw SuperConvError.format("\(path): '\(images)' has \(imageDims[0]) samples but '\(labels)' has \(labelDims[0])")
            }
            let (n, c, h, w) = channelsLast
                ? (imageDims[0], imageDims[3], imageDims[1], imageDims[2])
                : (imageDims[0], imageDims[1], imageDims[2], imageDims[3])
            guard let total = checkedProduct(imageDims), total > 0, total <= maximumDatasetBytes / 4,
                  let bytes = checkedProduct([total, imageSize]), bytes <= largest else {
                throw SuperConvError.format("\(path): '\(images)' has dimensions \(imageDims): empty or more than the file can hold")
            }
            var labelValues = [Int32](repeating: 0, count: n)
            try readDataset(file, labels, sc_h5t_native_int32(), &labelValues, path)
            let pixels: Dataset.Pixels
            switch (imageClass, imageSize) {
            case (H5T_INTEGER, 1):
                var raw = [UInt8](repeating: 0, count: total)
                try readDataset(file, images, sc_h5t_native_uint8(), &raw, path)
                pixels = .bytes(channelsLast ? toChannelsFirst(raw, n, h, w, c) : raw)
            case (H5T_FLOAT, _):
                var raw = [Float](repeating: 0, count: total)
                try readDataset(file, images, sc_h5t_native_float(), &raw, path)
                if let bad = raw.firstIndex(where: { !$0.isFinite }) {
                    throw SuperConvError.format("\(path): '\(images)' value \(bad) is not finite")
                }
                pixels = .floats(channelsLast ? toChannelsFirst(raw, n, h, w, c) : raw)
            default:
                throw SuperConvError.format("\(path): '\(images)' must hold uint8 or float values")
            }
            let classCount = classes ?? (Int(labelValues.max() ?? 0) + 1)
            return try Dataset(channels: c, height: h, width: w, classes: classCount, labels: labelValues,
                               pixels: pixels, source: path)
        }
    }

    /// Dimensions, type class and element size of a dataset, or a format error naming it.
    static func describe(_ file: hid_t, _ name: String, _ path: String) throws -> ([Int], H5T_class_t, Int) {
        let dataset = H5Dopen2(file, name, sc_h5p_default())
        guard dataset >= 0 else { throw SuperConvError.format("\(path): no dataset named '\(name)'") }
        defer { H5Dclose(dataset) }
        let space = H5Dget_space(dataset), type = H5Dget_type(dataset)
        defer { H5Sclose(space); H5Tclose(type) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard (0...8).contains(rank) else { throw SuperConvError.format("\(path): '\(name)' has an unreadable shape") }
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        H5Sget_simple_extent_dims(space, &dims, nil)
        try HDF5File.checkNumberSize(type, name, path)
        return (dims.prefix(rank).map { Int(clamping: $0) }, H5Tget_class(type), Int(H5Tget_size(type)))
    }

    static func readDataset<T>(_ file: hid_t, _ name: String, _ memoryType: hid_t, _ buffer: inout [T], _ path: String) throws {
        let dataset = H5Dopen2(file, name, sc_h5p_default())
        guard dataset >= 0 else { throw SuperConvError.format("\(path): no dataset named '\(name)'") }
        defer { H5Dclose(dataset) }
        let status = buffer.withUnsafeMutableBytes {
            H5Dread(dataset, memoryType, sc_h5s_all(), sc_h5s_all(), sc_h5p_default(), $0.baseAddress)
        }
        guard status >= 0 else { throw SuperConvError.format("\(path): cannot read '\(name)' (corrupt or unconvertible)") }
    }

    /// [N, H, W, C] -> [N, C, H, W].
    static func toChannelsFirst<T>(_ x: [T], _ n: Int, _ h: Int, _ w: Int, _ c: Int) -> [T] {
        var out = x
        for i in 0..<n {
            for y in 0..<h {
                for xx in 0..<w {
                    for ch in 0..<c { out[((i * c + ch) * h + y) * w + xx] = x[((i * h + y) * w + xx) * c + ch] }
                }
            }
        }
        return out
    }
}
