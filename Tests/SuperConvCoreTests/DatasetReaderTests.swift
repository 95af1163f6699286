import CHDF5
import CZlib
import Foundation
import XCTest
@testable import SuperConvCore

/// Every reader on good files and on each way a file can be bad: bad files give a format or IO
/// error naming the file and what was wrong, never a crash.
final class DatasetReaderTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "superconv-readers-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func write(_ name: String, _ bytes: [UInt8], gzip: Bool = false) -> String {
        let path = directory + "/" + name
        if gzip {
            let file = gzopen(path, "wb")
            _ = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32(bytes.count)) }
            gzclose(file)
        } else {
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
        }
        return path
    }

    func bigEndian(_ values: [UInt32]) -> [UInt8] {
        values.flatMap { v in [UInt8(v >> 24), UInt8((v >> 16) & 255), UInt8((v >> 8) & 255), UInt8(v & 255)] }
    }

    func failure(_ body: () throws -> Any) -> SuperConvError? {
        do { _ = try body() } catch let e as SuperConvError { return e } catch { XCTFail("\(error)") }
        return nil
    }

    // MARK: IDX

    func idxFiles(count: Int = 3, gzip: Bool) -> (String, String) {
        let pixels = (0..<(count * 4 * 5)).map { UInt8($0 % 256) }
        let images = write("img\(gzip)", bigEndian([0x803, UInt32(count), 4, 5]) + pixels, gzip: gzip)
        let labels = write("lab\(gzip)", bigEndian([0x801, UInt32(count)]) + (0..<count).map { UInt8($0 % 2) }, gzip: gzip)
        return (images, labels)
    }

    func testIDXPlainAndCompressed() throws {
        for gzip in [false, true] {
            let (images, labels) = idxFiles(gzip: gzip)
            let d = try IDXReader.read(images: images, labels: labels, classes: nil)
            XCTAssertEqual([d.count, d.channels, d.height, d.width, d.classes], [3, 1, 4, 5, 2])
            var sample = [Float](repeating: 0, count: 20)
            d.copySample(1, into: &sample)
            XCTAssertEqual(sample[0], 20 / 255, accuracy: 1e-7)
            XCTAssertEqual(d.labels, [0, 1, 0])
        }
    }

    func testFashionMNISTFromTheDebianPackage() throws {
        let dir = "/usr/share/datasets/fashion-mnist"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dir + "/t10k-images-idx3-ubyte.gz"),
                          "dataset-fashion-mnist is not installed")
        let d = try IDXReader.read(images: dir + "/t10k-images-idx3-ubyte.gz", labels: dir + "/t10k-labels-idx1-ubyte.gz", classes: nil)
        XCTAssertEqual([d.count, d.channels, d.height, d.width, d.classes], [10000, 1, 28, 28, 10])
        XCTAssertEqual((0..<10).map { c in d.labels.filter { $0 == c }.count }, Array(repeating: 1000, count: 10))
    }

    func testBadIDXFiles() throws {
        let (images, labels) = idxFiles(gzip: true)
        let wrongMagic = write("magic", bigEndian([0x802, 3, 4, 5]) + Array(repeating: 0, count: 60))
        XCTAssertTrue(failure { try IDXReader.read(images: wrongMagic, labels: labels, classes: nil) }!.message.contains("magic number is 0x00000802"))
        let truncated = write("trunc", bigEndian([0x803, 3, 4, 5]) + Array(repeating: 0, count: 59), gzip: true)
        let t = failure { try IDXReader.read(images: truncated, labels: labels, classes: nil) }!
        XCTAssertEqual(t.status, .format)
        XCTAssertTrue(t.message.contains("truncated"), t.message)
        let long = write("long", bigEndian([0x803, 3, 4, 5]) + Array(repeating: 0, count: 61))
        XCTAssertTrue(failure { try IDXReader.read(images: long, labels: labels, classes: nil) }!.message.contains("longer than"))
        let huge = write("huge", bigEndian([0x803, 1_000_000, 1000, 1000]) + Array(repeating: 0, count: 10))
        XCTAssertTrue(failure { try IDXReader.read(images: huge, labels: labels, classes: nil) }!.message.contains("more than the"))
        // A plain file cannot hold more than its bytes (1032x is a compressed file's bound): refused
        // before the declared 10 MB are allocated, not reported as truncated after.
        let plainHuge = write("plainhuge", bigEndian([0x803, 1000, 100, 100]) + Array(repeating: 0, count: 100_000))
        let p = failure { try IDXReader.read(images: plainHuge, labels: labels, classes: nil) }!
        XCTAssertTrue(p.message.contains("more than the 100016-byte file can hold"), p.message)
        let fewLabels = write("few", bigEndian([0x801, 2]) + [0, 1])
        XCTAssertTrue(failure { try IDXReader.read(images: images, labels: fewLabels, classes: nil) }!.message.contains("has 3 images but"))
        let missing = failure { try IDXReader.read(images: directory + "/nope", labels: labels, classes: nil) }!
        XCTAssertEqual(missing.status, .io)
        XCTAssertTrue(missing.message.contains("/nope"))
        let corrupt = write("corrupt", [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3] + Array(repeating: 0xff, count: 40))
        XCTAssertEqual(failure { try IDXReader.read(images: corrupt, labels: labels, classes: nil) }?.status, .format)
        XCTAssertTrue(failure { try IDXReader.read(images: images, labels: labels, classes: 1) }!.message.contains("label 1"))
    }

    // MARK: CIFAR

    func cifarRecords(_ count: Int, labelBytes: [UInt8] = [], label: (Int) -> UInt8) -> [UInt8] {
        (0..<count).flatMap { i in labelBytes + [label(i)] + (0..<3072).map { UInt8((i + $0) % 256) } }
    }

    func testCIFAR10TrainAndTest() throws {
        for b in 1...5 { _ = write("data_batch_\(b).bin", cifarRecords(4) { UInt8(($0 + b) % 10) }) }
        _ = write("test_batch.bin", cifarRecords(3) { UInt8($0) })
        let train = try CIFARReader.read(directory: directory, hundred: false, split: "train", coarse: false)
        XCTAssertEqual([train.count, train.channels, train.height, train.width, train.classes], [20, 3, 32, 32, 10])
        XCTAssertEqual(Array(train.labels.prefix(4)), [1, 2, 3, 4])
        var sample = [Float](repeating: 0, count: 3072)
        train.copySample(2, into: &sample)
        XCTAssertEqual(sample[1024], Float((2 + 1024) % 256) / 255, accuracy: 1e-7)
        XCTAssertEqual(try CIFARReader.read(directory: directory, hundred: false, split: "test", coarse: false).count, 3)
    }

    func testCIFAR100FineAndCoarse() throws {
        _ = write("train.bin", cifarRecords(5, labelBytes: [7]) { UInt8(90 + $0) })
        let fine = try CIFARReader.read(directory: directory, hundred: true, split: "train", coarse: false)
        XCTAssertEqual(fine.labels, [90, 91, 92, 93, 94])
        XCTAssertEqual(fine.classes, 100)
        let coarse = try CIFARReader.read(directory: directory, hundred: true, split: "train", coarse: true)
        XCTAssertEqual(coarse.labels, [7, 7, 7, 7, 7])
        XCTAssertEqual(coarse.classes, 20)
    }

    func testBadCIFARFiles() throws {
        _ = write("test_batch.bin", Array(cifarRecords(2) { _ in 1 }.dropLast(100)))
        let truncated = failure { try CIFARReader.read(directory: self.directory, hundred: false, split: "test", coarse: false) }!
        XCTAssertEqual(truncated.status, .format)
        XCTAssertTrue(truncated.message.contains("not a whole number of 3073-byte records"), truncated.message)
        _ = write("test_batch.bin", cifarRecords(2) { $0 == 1 ? 12 : 3 })
        XCTAssertTrue(failure { try CIFARReader.read(directory: self.directory, hundred: false, split: "test", coarse: false) }!
            .message.contains("record 1 has label 12"))
        let missing = failure { try CIFARReader.read(directory: self.directory, hundred: false, split: "train", coarse: false) }!
        XCTAssertEqual(missing.status, .io)
        XCTAssertTrue(missing.message.contains("data_batch_1.bin"))
    }

    // MARK: HDF5

    /// `labelBytes`: how wide the file stores each label (as int32 when nil).
    func writeHDF5(_ name: String, images: [UInt8], dims: [Int], labels: [Int32], imageName: String = "images",
                   labelBytes: Int? = nil) -> String {
        let path = directory + "/" + name
        let file = H5Fcreate(path, sc_h5f_acc_trunc(), sc_h5p_default(), sc_h5p_default())
        func dataset(_ name: String, _ dims: [Int], _ type: hid_t, _ stored: hid_t, _ data: UnsafeRawPointer) {
            var d = dims.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(d.count), &d, nil)
            let set = H5Dcreate2(file, name, stored, space, sc_h5p_default(), sc_h5p_default(), sc_h5p_default())
            H5Dwrite(set, type, sc_h5s_all(), sc_h5s_all(), sc_h5p_default(), data)
            H5Dclose(set)
            H5Sclose(space)
        }
        images.withUnsafeBytes { dataset(imageName, dims, sc_h5t_native_uint8(), sc_h5t_native_uint8(), $0.baseAddress!) }
        let labelType = H5Tcopy(sc_h5t_native_int32())
        if let labelBytes { H5Tset_size(labelType, labelBytes) }
        labels.withUnsafeBytes { dataset("labels", [labels.count], sc_h5t_native_int32(), labelType, $0.baseAddress!) }
        H5Tclose(labelType)
        H5Fclose(file)
        return path
    }

    func testHDF5ChannelsLastIsTransposed() throws {
        // Two 2x2 RGB images in NHWC; pixel (y, x) channel c of image i holds 100i + 10c + 2y + x.
        var nhwc: [UInt8] = []
        for i in 0..<2 { for y in 0..<2 { for x in 0..<2 { for c in 0..<3 { nhwc.append(UInt8(100 * i + 10 * c + 2 * y + x)) } } } }
        let path = writeHDF5("nhwc.h5", images: nhwc, dims: [2, 2, 2, 3], labels: [1, 0])
        let d = try HDF5Reader.read(path: path, images: "images", labels: "labels", channelsLast: true, classes: nil)
        XCTAssertEqual([d.count, d.channels, d.height, d.width, d.classes], [2, 3, 2, 2, 2])
        var sample = [Float](repeating: 0, count: 12)
        d.copySample(1, into: &sample)
        XCTAssertEqual(sample.map { Int(($0 * 255).rounded()) }, [100, 101, 102, 103, 110, 111, 112, 113, 120, 121, 122, 123])
    }

    func testBadHDF5Files() throws {
        let path = writeHDF5("ok.h5", images: Array(repeating: 0, count: 12), dims: [1, 3, 2, 2], labels: [0])
        XCTAssertTrue(failure { try HDF5Reader.read(path: path, images: "x", labels: "labels", channelsLast: false, classes: nil) }!
            .message.contains("no dataset named 'x'"))
        let flat = writeHDF5("flat.h5", images: Array(repeating: 0, count: 12), dims: [1, 12], labels: [0])
        XCTAssertTrue(failure { try HDF5Reader.read(path: flat, images: "images", labels: "labels", channelsLast: false, classes: nil) }!
            .message.contains("rank 2"))
        let mismatch = writeHDF5("mismatch.h5", images: Array(repeating: 0, count: 12), dims: [1, 3, 2, 2], labels: [0, 1])
        XCTAssertTrue(failure { try HDF5Reader.read(path: mismatch, images: "images", labels: "labels", channelsLast: false, classes: nil) }!
            .message.contains("has 1 samples but"))
        // Content that is not HDF5 is a format error (SC_ERR_FORMAT, as the header says), not an I/O one.
        let notHDF5 = write("plain.h5", Array(repeating: 7, count: 100))
        XCTAssertEqual(failure { try HDF5Reader.read(path: notHDF5, images: "images", labels: "labels", channelsLast: false, classes: nil) }?.status, .format)
        // One flipped bit in a label: INT32_MAX would make 2^31 classes, more than an int32 counts.
        let hugeLabel = writeHDF5("label.h5", images: Array(repeating: 0, count: 12), dims: [1, 3, 2, 2], labels: [Int32.max])
        XCTAssertTrue(failure { try HDF5Reader.read(path: hugeLabel, images: "images", labels: "labels", channelsLast: false, classes: nil) }!
            .message.contains("2147483648 classes; at most 2147483647"))
        // Numbers of another width than 1, 2, 4 or 8 bytes: libhdf5 1.10 sizes its conversion
        // buffers by the width a file declares (fuzzing: 4 GiB per label, 8 GiB allocated).
        let wide = writeHDF5("wide.h5", images: Array(repeating: 0, count: 12), dims: [1, 3, 2, 2], labels: [0], labelBytes: 16)
        XCTAssertTrue(failure { try HDF5Reader.read(path: wide, images: "images", labels: "labels", channelsLast: false, classes: nil) }!
            .message.contains("dataset 'labels' holds numbers of 16 bytes; 1, 2, 4 or 8 are readable"))
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        bytes = Array(bytes.prefix(bytes.count / 2))
        let truncated = write("truncated.h5", bytes)
        XCTAssertNotNil(failure { try HDF5Reader.read(path: truncated, images: "images", labels: "labels", channelsLast: false, classes: nil) })
    }

    /// A chunked dataset that stores no chunk reads as its fill value: 256 MiB declared by a file
    /// of a few kilobytes are refused before anything is allocated.
    func testDeclaredSizesBeyondTheFileAreRefused() throws {
        let path = directory + "/sparse.h5"
        let file = H5Fcreate(path, sc_h5f_acc_trunc(), sc_h5p_default(), sc_h5p_default())
        var dims: [hsize_t] = [1 << 12, 1, 256, 256], chunk: [hsize_t] = [1, 1, 256, 256], one: [hsize_t] = [1 << 12]
        let space = H5Screate_simple(4, &dims, nil), labelSpace = H5Screate_simple(1, &one, nil)
        let plist = H5Pcreate(sc_h5p_dataset_create())
        H5Pset_chunk(plist, 4, &chunk)
        H5Dclose(H5Dcreate2(file, "images", sc_h5t_native_uint8(), space, sc_h5p_default(), plist, sc_h5p_default()))
        H5Pset_chunk(plist, 1, &one)
        H5Dclose(H5Dcreate2(file, "labels", sc_h5t_native_int32(), labelSpace, sc_h5p_default(), plist, sc_h5p_default()))
        H5Pclose(plist); H5Sclose(space); H5Sclose(labelSpace); H5Fclose(file)
        let error = failure { try HDF5Reader.read(path: path, images: "images", labels: "labels", channelsLast: false, classes: nil) }
        XCTAssertEqual(error?.status, .format)
        XCTAssertTrue(error?.message.contains("more than the file can hold") ?? false, error?.message ?? "")
    }

    func testSpecsChooseTheReaderAndNameBadKeys() throws {
        let (images, labels) = idxFiles(gzip: false)
        let (d, spec) = try DatasetConfiguration.open(spec: "format=idx images=\(images) labels=\(labels)")
        XCTAssertEqual(d.count, 3)
        XCTAssertEqual(spec.normalized, "format=idx images=\(images) labels=\(labels) classes=0")
        XCTAssertTrue(failure { try DatasetConfiguration.open(spec: "format=png") }!.message.contains("format=png"))
        XCTAssertTrue(failure { try DatasetConfiguration.open(spec: "format=idx labels=\(labels)") }!.message.contains("images="))
        XCTAssertTrue(failure { try DatasetConfiguration.open(spec: "format=cifar10 dir=/x split=val") }!.message.contains("split=val"))
    }
}
