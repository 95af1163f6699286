/// Opens a data set from a dataset spec. `format` selects the reader and its keys:
///   format=idx images=PATH labels=PATH [classes=0]
///   format=cifar10 dir=DIR split=train|test
///   format=cifar100 dir=DIR split=train|test label=fine|coarse
///   format=hdf5 path=PATH images=images labels=labels layout=nchw|nhwc [classes=0]
/// classes=0 takes the number of classes from the largest label.
public enum DatasetConfiguration {
    static let formats = ["idx", "cifar10", "cifar100", "hdf5"]

    static func schema(for format: String) -> SpecSchema {
        typealias K = SpecSchema.Key
        var keys = [K("format", format, "idx, cifar10, cifar100 or hdf5")]
        switch format {
        case "idx":
            keys += [K("images", "", "IDX image file, gzip or plain"), K("labels", "", "IDX label file"),
                     K("classes", "0", "number of classes; 0: largest label + 1")]
        case "cifar10", "cifar100":
            keys += [K("dir", "", "folder of the binary files"), K("split", "train", "train or test")]
            if format == "cifar100" { keys.append(K("label", "fine", "fine (100 classes) or coarse (20)")) }
        default:
            keys += [K("path", "", "HDF5 file"), K("images", "images", "image dataset"), K("labels", "labels", "label dataset"),
                     K("layout", "nchw", "nchw or nhwc"), K("classes", "0", "number of classes; 0: largest label + 1")]
        }
        return SpecSchema(subject: "dataset (format=\(format))", keys: keys)
    }

    public static func open(spec text: String) throws -> (Dataset, Spec) {
        var format = ""
        for token in text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }) where token.hasPrefix("format=") {
            format = String(token.dropFirst("format=".count))
        }
        guard formats.contains(format) else {
            throw SuperConvError.invalidArgument("dataset spec: format=\(format) is invalid: expected one of \(formats.joined(separator: "|"))")
        }
        let spec = try schema(for: format).parse(text)
        func path(_ key: String) throws -> String {
            let value = spec.string(key)
            guard !value.isEmpty else { throw spec.invalid(key, "a path is required") }
            return value
        }
        func classes() throws -> Int? {
            let n = try spec.int("classes", in: 0...100_000)
            return n == 0 ? nil : n
        }
        let dataset: Dataset
        switch format {
        case "idx":
            dataset = try IDXReader.read(images: try path("images"), labels: try path("labels"), classes: try classes())
        case "cifar10", "cifar100":
            dataset = try CIFARReader.read(directory: try path("dir"), hundred: format == "cifar100",
                                           split: try spec.choice("split", ["train", "test"]),
                                           coarse: format == "cifar100" && (try spec.choice("label", ["fine", "coarse"])) == "coarse")
        default:
            dataset = try HDF5Reader.read(path: try path("path"), images: spec.string("images"), labels: spec.string("labels"),
                                          channelsLast: try spec.choice("layout", ["nchw", "nhwc"]) == "nhwc",
                                          classes: try classes())
        }
        return (dataset, spec)
    }
}
