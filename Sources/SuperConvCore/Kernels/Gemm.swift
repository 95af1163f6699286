import COpenBLAS

/// C = alpha · op(A) · op(B) + beta · C on row-major matrices, where op(A) is m x k and op(B)
/// is k x n, computed by the library's workers: the columns of C are split into one contiguous
/// block per worker and each block is a single-threaded OpenBLAS call.
///
/// OpenBLAS's own threads stay at 1. Its pool busy-waits between calls, and with the
/// element-wise kernels running on Dispatch in between, two pools spinning on two cores cost
/// a fifth of the step. One pool for everything avoids that, and the split depends only on n
/// and the thread count, so results are deterministic for a given thread count.
func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
           alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
           b: UnsafePointer<Float>, ldb: Int,
           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    // Blocks narrower than this waste OpenBLAS's packing; small products run on one worker.
    let minimumColumns = 64
    let work = m * n * k
    let blocks = work < 1 << 18 ? 1 : max(1, n / minimumColumns)
    parallelFor(blocks) { range in
        let first = n * range.lowerBound / blocks
        let last = n * range.upperBound / blocks
        guard last > first else { return }
        // Column j of op(B) starts at b + j when B is stored k x n, at b + j·ldb when stored n x k.
        let bBlock = transposeB ? b + first * ldb : b + first
        cblas_sgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(last - first), Int32(k), alpha, a, Int32(lda),
                    bBlock, Int32(ldb), beta, c + first, Int32(ldc))
    }
}
