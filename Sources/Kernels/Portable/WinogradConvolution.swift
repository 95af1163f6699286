// Winograd's minimal filtering F(2x2, 3x3) for 3x3 stride-1 convolutions (Lavin & Gray 2016,
// "Fast Algorithms for Convolutional Neural Networks"): each 2x2 block of outputs (a tile) of
// one output channel is computed from the 4x4 input patch around it with 16 multiplies per
// input channel instead of 36,
//   Y = Aᵀ [ Σ_ci (G g Gᵀ) ⊙ (Bᵀ d B) ] A,
//   Bᵀ = | 1  0 -1  0 |   G = |  1    0    0  |   Aᵀ = | 1  1  1  0 |
//        | 0  1  1  0 |       | 1/2  1/2  1/2 |        | 0  1 -1 -1 |
//        | 0 -1  1  0 |       | 1/2 -1/2  1/2 |
//        | 0  1  0 -1 |       |  0    0    1  |
// (d the 4x4 patch, g the 3x3 kernel; correlation, as the direct kernels compute). U = G g Gᵀ
// and V = Bᵀ d B are the transformed weights and inputs; for each of the 16 positions ξ of the
// 4x4 grid the middle step is a matrix product over the input channels,
//   M[ξ][o][t] = Σ_ci U[ξ][o][ci] · V[ξ][ci][t],
// which is where the time goes (`winogradMultiply`, with each instruction set's register block).
// All of it is written here once and compiled into each set's module through its inlinable entry
// points, with the set's vector type and instructions.
//
// The arithmetic differs from the direct kernels' (other sums, other roundings): results agree
// to rounding, a few units in the last place of the largest terms, not bit for bit.
//
// Shapes (one image): xp [Ci, H + 2, S] as `writePaddedImage` lays it out, H and W even; tiles
// (ty, tx) with TY = H/2, TX = W/2, grouped in vectors of `lanes` tiles (`WinogradGeometry`):
// two whole tile rows when TX is half the lanes, else runs along a row, the last one partial
// when TX is not a multiple of the lanes. The vectors are taken in blocks of an even number (the
// scratch holds V of one block, and M of one block of output channels).

/// A register block of a convolution kernel: `channels` output channels by two vectors of
/// outputs, each step adding its `channels` weights, broadcast, times the step's two input
/// vectors. Each instruction set's module has one, sized for its registers (`ChannelBlock`).
public protocol ChannelAccumulators {
    associatedtype Vector: WinogradVector
    static var channels: Int { get }
    /// Each channel's accumulators start at its bias (from `bias` on), or 0.
    init(bias: UnsafePointer<Float>?)
    /// Adds the step's weights q[0..<channels] times the input vectors v0 and v1.
    mutating func add(_ q: UnsafePointer<Float>, _ v0: Vector, _ v1: Vector)
    /// Hands each channel and its two vectors to `store`.
    func store(_ store: (Int, Vector, Vector) -> Void)
}

/// A vector of floats, and how F(2x2, 3x3) deinterleaves and interleaves two of them: the columns
/// of a patch are every other float of a row.
public protocol WinogradVector: SIMD where Scalar == Float {
    /// The even-indexed and odd-indexed floats of `low` followed by `high`.
    static func deinterleave(_ low: Self, _ high: Self) -> (Self, Self)
    /// a0, b0, a1, b1, ... as two vectors, the first half and the second.
    static func interleave(_ a: Self, _ b: Self) -> (Self, Self)
}

extension SIMD8: WinogradVector where Scalar == Float {
    @inlinable @inline(__always)
    public static func deinterleave(_ low: SIMD8<Float>, _ high: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
        let z = SIMD16(lowHalf: low, highHalf: high)
        return (z.evenHalf, z.oddHalf)
    }
    @inlinable @inline(__always)
    public static func interleave(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
        var z = SIMD16<Float>()
        z.evenHalf = a
        z.oddHalf = b
        return (z.lowHalf, z.highHalf)
    }
}

extension SIMD16: WinogradVector where Scalar == Float {
    @inlinable @inline(__always)
    public static func deinterleave(_ low: SIMD16<Float>, _ high: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
        let z = SIMD32(lowHalf: low, highHalf: high)
        return (z.evenHalf, z.oddHalf)
    }
    @inlinable @inline(__always)
    public static func interleave(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
        var z = SIMD32<Float>()
        z.evenHalf = a
        z.oddHalf = b
        return (z.lowHalf, z.highHalf)
    }
}

/// F(2x2, 3x3) for one instruction set: its register block, whose vectors hold tiles. Each set's
/// module has one conforming type, whose `convolve` calls `winogradConvolve` so that the whole
/// computation is compiled with the set's instructions.
public protocol WinogradKernels {
    associatedtype Block: ChannelAccumulators
}

/// What follows from the vector width alone; each set's module still compiles its own `padImage`
/// and `convolve`, so that the transforms run with its instructions.
extension WinogradKernels where Self: DirectForwardKernels {
    /// Output channels side by side in the transformed weights, U [16][O/B][C][B].
    public static var outputChannelBlock: Int { Block.channels }

    /// Whether the kernel takes an image of H x W (see `winogradTakes`).
    public static func takes(height: Int, width: Int) -> Bool {
        winogradTakes(height: height, width: width, lanes: Block.Vector.scalarCount)
    }

    public static func packedWeightCount(inChannels: Int, outChannels: Int) -> Int { 16 * outChannels * inChannels }

    public static func packWeights(into packed: UnsafeMutablePointer<Float>, inChannels: Int, outChannels: Int,
                                   weight: (Int, Int, Int) -> Float) {
        writeWinogradWeights(into: packed, inChannels: inChannels, outChannels: outChannels, block: outputChannelBlock,
                             weight: weight)
    }

    public static func scratchCount(inChannels: Int, outChannels: Int, height: Int, width: Int, cacheBytes: Int) -> Int {
        let tiles = winogradBlockTiles(inChannels: inChannels, height: height, width: width,
                                       lanes: Block.Vector.scalarCount, blockBytes: cacheBytes)
        return 16 * (winogradPositionStride(channels: inChannels, blockTiles: tiles)
                     + winogradPositionStride(channels: outputChannelBlock, blockTiles: tiles))
    }
}

/// Whether F(2x2, 3x3) with vectors of `lanes` tiles takes an image of H x W: H and W even, the
/// image an even number of vectors, and at most a quarter of the lanes idle (see
/// `WinogradGeometry`).
@inlinable
public func winogradTakes(height h: Int, width w: Int, lanes: Int) -> Bool {
    guard h > 0, w > 0, h % 2 == 0, w % 2 == 0 else { return false }
    let g = WinogradGeometry(height: h, width: w, lanes: lanes)
    return g.vectors % 2 == 0 && (!g.stacked || h / 2 % 2 == 0) && 4 * g.tiles >= 3 * g.vectors * lanes
}

/// Writes U = G g Gᵀ for every output and input channel as [16][O/B][C][B], reading the 3x3
/// kernel of (o, c) at tap kh·3 + kw through `weight(o, c, tap)`.
@inlinable
public func writeWinogradWeights(into u: UnsafeMutablePointer<Float>, inChannels: Int, outChannels: Int, block: Int,
                                 weight: (Int, Int, Int) -> Float) {
    // (G g Gᵀ)[i][j] = G_i · g · G_jᵀ, with G's rows as (a, b, c): a·g0 + b·g1 + c·g2.
    @inline(__always) func apply(_ r: Int, _ g0: Float, _ g1: Float, _ g2: Float) -> Float {
        switch r {
        case 0: return g0
        case 1: return 0.5 * (g0 + g1 + g2)
        case 2: return 0.5 * (g0 - g1 + g2)
        default: return g2
        }
    }
    let groups = outChannels / block
    for o in 0..<outChannels {
        for c in 0..<inChannels {
            for i in 0..<4 {
                // Row i of G g: the kernel's columns combined down the rows.
                let a = apply(i, weight(o, c, 0), weight(o, c, 3), weight(o, c, 6))
                let b = apply(i, weight(o, c, 1), weight(o, c, 4), weight(o, c, 7))
                let d = apply(i, weight(o, c, 2), weight(o, c, 5), weight(o, c, 8))
                for j in 0..<4 {
                    u[(((i * 4 + j) * groups + o / block) * inChannels + c) * block + o % block] = apply(j, a, b, d)
                }
            }
        }
    }
}

/// Tiles per block (counting the idle lanes of partial vectors): the most whole pairs of vectors
/// (at least one) whose transformed inputs V take at most `blockBytes`, so that the multiply
/// step reads them, once per block of output channels, from the cache they were written to.
@inlinable
public func winogradBlockTiles(inChannels: Int, height h: Int, width w: Int, lanes: Int, blockBytes: Int) -> Int {
    let pair = 2 * lanes, bytesPerPair = 16 * inChannels * pair * 4
    return min(WinogradGeometry(height: h, width: w, lanes: lanes).vectors * lanes, max(1, blockBytes / bytesPerPair) * pair)
}

/// Floats from one position ξ of V or M to the next: a cache line more than the channels' rows,
/// so that the 16 rows a transform reads or writes at once fall into different sets of the cache
/// (at a power-of-two distance they would share a few).
@inlinable
public func winogradPositionStride(channels: Int, blockTiles: Int) -> Int { channels * blockTiles + 16 }

/// F(2x2, 3x3) of one zero-padded image into y [Co, H, W] (plus bias when given), U as
/// `writeWinogradWeights` wrote it with `K.outputChannelBlock`, scratch of `scratchCount`
/// floats. Per block of tiles: V of every input channel, then for each block of B output
/// channels M of those (16 x B rows, small enough to stay in the first-level cache) and at once
/// their outputs.
@inlinable @inline(__always)
public func winogradConvolve<K: WinogradKernels>(_: K.Type, padded xp: UnsafePointer<Float>,
                                                 transformedWeights u: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                                 output y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                                                 inChannels ci: Int, outChannels co: Int, height h: Int, width w: Int,
                                                 blockBytes: Int) {
    let lanes = K.Block.Vector.scalarCount, block = K.Block.channels
    let geometry = WinogradGeometry(height: h, width: w, lanes: lanes)
    let blockTiles = winogradBlockTiles(inChannels: ci, height: h, width: w, lanes: lanes, blockBytes: blockBytes)
    let inputPositions = winogradPositionStride(channels: ci, blockTiles: blockTiles)
    let outputPositions = winogradPositionStride(channels: block, blockTiles: blockTiles)
    let v = scratch, m = scratch + 16 * inputPositions
    var first = 0
    while first < geometry.vectors * lanes {
        let tiles = min(blockTiles, geometry.vectors * lanes - first)
        let vectors = (first / lanes)..<((first + tiles) / lanes)
        winogradTransformInputs(K.self, xp, geometry, vectors: vectors, channels: ci, into: v, tileStride: blockTiles,
                                positionStride: inputPositions)
        for ob in 0..<(co / block) {
            for xi in 0..<16 {
                winogradMultiply(K.Block.self, transformedInputs: v + xi * inputPositions,
                                 transformedWeights: u + (xi * co + ob * block) * ci, into: m + xi * outputPositions,
                                 tiles: tiles, tileStride: blockTiles, inChannels: ci)
            }
            winogradTransformOutputs(K.self, m, geometry, vectors: vectors, channels: (ob * block)..<((ob + 1) * block),
                                     bias: bias, into: y, tileStride: blockTiles, positionStride: outputPositions)
        }
        first += tiles
    }
}

/// m[o][t] = Σ_ci u[ci][o] · v[ci][t] for the block's output channels o and t < `tiles` (a
/// multiple of two vectors), rows of v and m `tileStride` apart: one position ξ of one block of
/// tiles, as the direct kernels' inner loop (two vectors of tiles per step, each fed to every
/// channel of the block from registers).
@inlinable @inline(__always)
func winogradMultiply<B: ChannelAccumulators>(_: B.Type, transformedInputs v: UnsafePointer<Float>,
                                              transformedWeights u: UnsafePointer<Float>,
                                              into m: UnsafeMutablePointer<Float>, tiles: Int, tileStride: Int,
                                              inChannels: Int) {
    let lanes = B.Vector.scalarCount
    var t = 0
    while t < tiles {
        var block = B(bias: nil)
        for ci in 0..<inChannels {
            let row = v + ci * tileStride + t
            block.add(u + ci * B.channels, load(row), load(row + lanes))
        }
        block.store { c, a, b in
            store(a, m + c * tileStride + t)
            store(b, m + c * tileStride + t + lanes)
        }
        t += 2 * lanes
    }
}

/// The even-indexed and odd-indexed floats of a vector's width of floats from `p` followed by as
/// many from `q`.
@inlinable @inline(__always)
func loadDeinterleaved<V: WinogradVector>(_ p: UnsafePointer<Float>, _ q: UnsafePointer<Float>) -> (V, V) {
    V.deinterleave(load(p), load(q))
}

/// Interleaves a and b (a0, b0, a1, b1, ...) and stores the first half at p, the second at q;
/// only the first `count` floats of the two.
@inlinable @inline(__always)
func storeInterleaved<V: WinogradVector>(_ a: V, _ b: V, _ p: UnsafeMutablePointer<Float>, _ q: UnsafeMutablePointer<Float>,
                                         count: Int) {
    let (low, high) = V.interleave(a, b), lanes = V.scalarCount
    if count == 2 * lanes {
        store(low, p)
        store(high, q)
    } else {
        for i in 0..<min(count, lanes) { p[i] = low[i] }
        for i in lanes..<max(count, lanes) { q[i - lanes] = high[i - lanes] }
    }
}

/// Which tiles each vector of an image holds: two whole tile rows when a row has half a
/// vector's tiles (TX = lanes / 2), else runs of `lanes` tiles along each row, the last run of a
/// row partial when TX is not a multiple of the lanes (its idle lanes read past the row, into
/// the padding and the next row, and are never stored).
@usableFromInline
struct WinogradGeometry {
    @usableFromInline let height: Int, width: Int, lanes: Int
    @usableFromInline let tiles: Int, rowStride: Int
    @usableFromInline let stacked: Bool
    /// Vectors per tile row (0 when stacked), and in all.
    @usableFromInline let vectorsPerRow: Int, vectors: Int

    @inlinable
    init(height: Int, width: Int, lanes: Int) {
        self.height = height
        self.width = width
        self.lanes = lanes
        let tx = width / 2, ty = height / 2
        tiles = ty * tx
        rowStride = paddedRowStride(width: width)
        stacked = 2 * tx == lanes
        vectorsPerRow = stacked ? 0 : (tx + lanes - 1) / lanes
        vectors = stacked ? (ty + 1) / 2 : ty * vectorsPerRow
    }

    /// Vector k's first tile (ty, tx0), and how many of its tiles lie in that row.
    @inlinable
    func origin(_ k: Int) -> (ty: Int, tx: Int, count: Int) {
        if stacked { return (2 * k, 0, lanes / 2) }
        let tx = k % vectorsPerRow * lanes
        return (k / vectorsPerRow, tx, min(lanes, width / 2 - tx))
    }
}

/// V[ξ][c][t] = (Bᵀ d B)[ξ] of every tile t of the vectors and every channel c, t counted from the
/// first vector's first tile. Bᵀ d B is separable: rows first (each of the four input rows a
/// vector of tiles, deinterleaved into the four patch columns), then columns.
@inlinable @inline(__always)
func winogradTransformInputs<K: WinogradKernels>(_: K.Type, _ xp: UnsafePointer<Float>, _ g: WinogradGeometry,
                                                 vectors: Range<Int>, channels: Int,
                                                 into v: UnsafeMutablePointer<Float>, tileStride: Int,
                                                 positionStride step: Int) {
    let lanes = g.lanes, plane = (g.height + 2) * g.rowStride
    for k in vectors {
        let (ty, tx, _) = g.origin(k)
        // Of the lanes' first and second halves: the same row further on, or two padded rows down.
        let second = g.stacked ? 2 * g.rowStride : lanes
        let tile = (k - vectors.lowerBound) * lanes
        for c in 0..<channels {
            let top = xp + c * plane + 2 * ty * g.rowStride + 2 * tx
            // Patch columns 0, 1 (even and odd from 2·tx) and 2, 3 (from 2·tx + 2) of row r.
            @inline(__always) func row(_ r: Int) -> (K.Block.Vector, K.Block.Vector, K.Block.Vector, K.Block.Vector) {
                let p = top + r * g.rowStride
                let (e, o): (K.Block.Vector, K.Block.Vector) = loadDeinterleaved(p, p + second)
                let (e2, o2): (K.Block.Vector, K.Block.Vector) = loadDeinterleaved(p + 2, p + 2 + second)
                return (e, o, e2, o2)
            }
            let d0 = row(0), d1 = row(1), d2 = row(2), d3 = row(3)
            // Bᵀ d: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3, per patch column.
            let r0 = (d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3)
            let r1 = (d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3)
            let r2 = (d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3)
            let r3 = (d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3)
            let out = v + c * tileStride + tile
            // (Bᵀ d) B: the same combinations of the columns, into positions ξ = 4i + j.
            @inline(__always) func columns(_ r: (K.Block.Vector, K.Block.Vector, K.Block.Vector, K.Block.Vector), _ i: Int) {
                store(r.0 - r.2, out + (4 * i) * step)
                store(r.1 + r.2, out + (4 * i + 1) * step)
                store(r.2 - r.1, out + (4 * i + 2) * step)
                store(r.1 - r.3, out + (4 * i + 3) * step)
            }
            columns(r0, 0); columns(r1, 1); columns(r2, 2); columns(r3, 3)
        }
    }
}

/// y of every tile of the vectors and every channel o from M[ξ][o][t]: Aᵀ M A plus the bias,
/// separable as the input transform (rows m0 + m1 + m2 and m1 − m2 − m3, then the same of the
/// columns), the two output columns of each tile interleaved as they are stored.
@inlinable @inline(__always)
func winogradTransformOutputs<K: WinogradKernels>(_: K.Type, _ m: UnsafePointer<Float>, _ g: WinogradGeometry,
                                                  vectors: Range<Int>, channels: Range<Int>, bias: UnsafePointer<Float>?,
                                                  into y: UnsafeMutablePointer<Float>, tileStride: Int,
                                                  positionStride step: Int) {
    let lanes = g.lanes, w = g.width, outPlane = g.height * w
    for k in vectors {
        let (ty, tx, count) = g.origin(k)
        let second = g.stacked ? 2 * w : lanes, stored = g.stacked ? 2 * lanes : 2 * count
        let tile = (k - vectors.lowerBound) * lanes
        for o in channels {
            let base = m + (o - channels.lowerBound) * tileStride + tile
            @inline(__always) func at(_ xi: Int) -> K.Block.Vector { load(base + xi * step) }
            @inline(__always) func rows(_ j: Int) -> (K.Block.Vector, K.Block.Vector) {
                let m1 = at(4 + j), m2 = at(8 + j)
                return (at(j) + m1 + m2, m1 - m2 - at(12 + j))
            }
            let c0 = rows(0), c1 = rows(1), c2 = rows(2), c3 = rows(3)
            let shift = K.Block.Vector(repeating: bias?[o] ?? 0)
            let y00 = c0.0 + c1.0 + c2.0 + shift, y01 = c1.0 - c2.0 - c3.0 + shift
            let y10 = c0.1 + c1.1 + c2.1 + shift, y11 = c1.1 - c2.1 - c3.1 + shift
            let out = y + o * outPlane + 2 * ty * w + 2 * tx
            storeInterleaved(y00, y01, out, out + second, count: stored)
            storeInterleaved(y10, y11, out + w, out + w + second, count: stored)
        }
    }
}

@inlinable @inline(__always)
func load<V: SIMD>(_ p: UnsafePointer<Float>) -> V where V.Scalar == Float {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
}

@inlinable @inline(__always)
func store<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
}
